/*
 * checkpoint.c — saving and loading a network's flat parameter vector as one .npy file
 * (<f4, shape (n,)), in the order of its ParamSet: the layout `rnnrep golden` documents.
 */
#include <string.h>

#include "rnnrep.h"

int params_save(const ParamSet *ps, const char *path, char *err)
{
    NpyArray a;
    npy_alloc(&a, NPY_F4, 1, &ps->n);
    npy_from_real(NPY_F4, ps->data, ps->n, a.data);
    int rc = npy_write(path, &a, err);
    npy_free(&a);
    return rc;
}

int params_load(ParamSet *ps, const char *path, char *err)
{
    NpyArray a;
    int rc = npy_read(path, &a, err);
    if (rc) return rc;
    if (a.ndim != 1 || a.shape[0] != ps->n || (a.dtype != NPY_F4 && a.dtype != NPY_F8)) {
        char shape[64];
        npy_shape_str(a.ndim, a.shape, shape, sizeof shape);
        rc = rr_error(err, RR_ERR_FORMAT, "%s: holds %s %s, but %s has %zu parameters (want <f4 (%zu,))", path,
                      npy_descr[a.dtype], shape, ps->name, ps->n, ps->n);
    } else {
        npy_to_real(a.dtype, a.data, ps->n, ps->data);
    }
    npy_free(&a);
    return rc;
}
