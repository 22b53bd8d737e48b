/*
 * autograd.c — the error and memory helpers everything uses; arena, tensors, the tape and
 * every op (forward and backward side by side), the matrix-product kernels with their naive
 * twins, the RNG, AdamW and schedules. It knows nothing about networks: models/ builds them
 * from these ops. POSIX: clock_gettime (timing), mkdir (rr_make_dir) and fcntl record locks
 * (rr_lock_dir).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>    /* open, fcntl */
#include <sys/stat.h> /* mkdir */
#include <time.h>
#include <unistd.h>   /* close */

#include "rnnrep.h"

/* ========================================================================================
 * Errors, memory and directories: the few helpers every part of rnnrep uses. They live
 * here, in the one file that everything links against, so that there is one definition of
 * how an error is reported (rr_error for bad input, rr_fatal for the unrecoverable).
 * ====================================================================================== */

int rr_error(char *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, RR_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return code;
}

void rr_fatal(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("rnnrep: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

void *rr_malloc(size_t bytes, const char *what)
{
    void *p = malloc(bytes ? bytes : 1);
    if (!p) rr_fatal("out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

void *rr_calloc(size_t count, size_t size, const char *what)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) rr_fatal("out of memory allocating %zu x %zu bytes for %s", count, size, what);
    return p;
}

int rr_make_dir(const char *dir, char *err)
{
    if (mkdir(dir, 0777) == 0 || errno == EEXIST) return RR_OK;
    return rr_error(err, RR_ERR_OPEN, "%s: cannot create directory: %s", dir, strerror(errno));
}

int rr_lock_dir(const char *dir, int *fd, char *err)
{
    char path[1100];
    snprintf(path, sizeof path, "%s/.lock", dir);
    *fd = open(path, O_RDWR | O_CREAT, 0666);
    if (*fd < 0) return rr_error(err, RR_ERR_OPEN, "%s: cannot create the lock file: %s", path, strerror(errno));
    struct flock lk;
    memset(&lk, 0, sizeof lk);
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
    if (fcntl(*fd, F_SETLK, &lk) == 0) return RR_OK;
    int busy = errno == EACCES || errno == EAGAIN, why = errno;
    if (busy && fcntl(*fd, F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK) {
        rr_error(err, RR_ERR_PROCESS, "%s is being written by another rnnrep process (pid %ld, holding %s): wait for it or stop it",
                 dir, (long)lk.l_pid, path);
    } else if (busy) {
        rr_error(err, RR_ERR_PROCESS, "%s is being written by another rnnrep process (holding %s)", dir, path);
    } else {
        rr_error(err, RR_ERR_IO, "%s: cannot lock: %s", path, strerror(why));
    }
    close(*fd);
    *fd = -1;
    return busy ? RR_ERR_PROCESS : RR_ERR_IO;
}

void rr_unlock_dir(int fd)
{
    if (fd >= 0) close(fd); /* closing releases the lock; the empty file stays */
}

long rr_file_size(FILE *fp)
{
    long size = fseek(fp, 0, SEEK_END) ? -1 : ftell(fp);
    return fseek(fp, 0, SEEK_SET) ? -1 : size;
}

/* C leaves renaming over an existing file to the host, and Windows refuses; retry there. */
int rr_replace_file(const char *from, const char *to)
{
    if (rename(from, to) == 0) return 0;
#ifdef _WIN32
    remove(to);
    return rename(from, to);
#else
    return -1;
#endif
}

double rr_seconds(void)
{
#ifdef CLOCK_MONOTONIC
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) == 0) return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
    return (double)clock() / CLOCKS_PER_SEC;
}

/* ========================================================================================
 * Threads: OpenMP pragmas in the kernels and the row loops, written OMP(...) so that a build
 * without OpenMP (make OPENMP=0) sees plain C99 and no unknown pragma. Work is only ever
 * split so that every result element is computed by one thread exactly as the serial code
 * computes it, or a reduction runs over FIXED chunks (their size depends on the data, never
 * on the thread count) whose partial sums are added in chunk order: every result is the same
 * bit for bit whatever the number of threads. Loops below PARALLEL_MIN elements (or
 * GEMM_PARALLEL_MIN multiply-adds) stay on one thread: starting the team costs more there.
 * ====================================================================================== */

#ifdef _OPENMP
#include <omp.h>
#include <pthread.h> /* pthread_atfork */
#define OMP(...) OMP_PRAGMA(omp __VA_ARGS__)
#define OMP_PRAGMA(...) _Pragma(#__VA_ARGS__)
static int thread_index(void) { return omp_get_thread_num(); }
static int team_size(void) { return omp_get_num_threads(); }
static int in_parallel(void) { return omp_in_parallel(); }
/* A number that no other running thread has: the thread's number in the innermost team of
 * more than one (there is at most one such team: nested regions are inactive unless the user
 * asks otherwise, and then -1); 0 outside any. */
static int thread_slot(void)
{
    if (omp_get_active_level() > 1) return -1;
    for (int level = omp_get_level(); level >= 1; level--)
        if (omp_get_team_size(level) > 1) return omp_get_ancestor_thread_num(level);
    return 0;
}
/* OpenMP's threads do not survive fork(): a child that computes without exec'ing (the tests'
 * interrupted runs) would wait at its first parallel loop for threads it does not have, so
 * it runs on one thread. */
static void one_thread_after_fork(void) { omp_set_num_threads(1); }
__attribute__((constructor)) static void threads_init(void) { pthread_atfork(NULL, NULL, one_thread_after_fork); }
/* The team of a region with `most` threads' room prepared: all of them when the work is
 * worth sharing, else one. (Read by the pragmas only: absent without OpenMP.) */
static int team_for(int worth, size_t most)
{
    size_t n = (size_t)omp_get_max_threads();
    return worth && most > 1 ? (int)(n < most ? n : most) : 1;
}
#else
#define OMP(...)
static int thread_index(void) { return 0; }
static int team_size(void) { return 1; }
static int in_parallel(void) { return 0; }
static int thread_slot(void) { return 0; }
#endif

enum { PARALLEL_MIN = 1 << 14 };      /* elements below which a loop stays on one thread */
enum { GEMM_PARALLEL_MIN = 1 << 18 }; /* multiply-adds below which a product stays on one thread */

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* This thread's part [*begin, *end) of 0 .. n - 1: contiguous shares, the last ones shorter. */
static void share(size_t n, size_t *begin, size_t *end)
{
    size_t team = (size_t)team_size(), me = (size_t)thread_index(), per = (n + team - 1) / team;
    *begin = me * per < n ? me * per : n;
    *end = *begin + per < n ? *begin + per : n;
}

size_t rr_cores(void)
{
#ifdef _OPENMP
    return (size_t)omp_get_num_procs();
#else
    return 1;
#endif
}

void rr_set_threads(size_t n)
{
#ifdef _OPENMP
    if (n == 0) n = rr_cores();
    omp_set_num_threads(n > RR_MAX_THREADS ? RR_MAX_THREADS : (int)n);
#else
    (void)n;
#endif
}

size_t rr_threads(void)
{
#ifdef _OPENMP
    return (size_t)omp_get_max_threads();
#else
    return 1;
#endif
}

/* The sum over fixed chunks of REDUCE_CHUNK terms: each chunk's partial in double, in index
 * order, then the partials in chunk order. CHUNKED_SUM(total, n, i, term) sets total to the
 * sum of the double-valued expression `term` of the index i (a size_t) over i < n, the
 * chunks on the threads when n is large. Up to 4096 terms it is the plain serial sum. */
enum { REDUCE_CHUNK = 4096 };
static double *chunk_partials(size_t n, double *small, size_t nsmall)
{
    size_t chunks = (n + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
    return chunks <= nsmall ? small : rr_malloc(chunks * sizeof(double), "partial sums");
}
#define CHUNKED_SUM(total, n, i, term)                                                        \
    do {                                                                                      \
        size_t n_ = (n), chunks_ = (n_ + REDUCE_CHUNK - 1) / REDUCE_CHUNK;                    \
        double small_[64], *part_ = chunk_partials(n_, small_, 64);                           \
        OMP(parallel for schedule(static) if (n_ >= 4 * PARALLEL_MIN))                        \
        for (size_t c_ = 0; c_ < chunks_; c_++) {                                             \
            size_t end_ = (c_ + 1) * REDUCE_CHUNK < n_ ? (c_ + 1) * REDUCE_CHUNK : n_;        \
            double s_ = 0;                                                                    \
            for (size_t i = c_ * REDUCE_CHUNK; i < end_; i++) s_ += (term);                   \
            part_[c_] = s_;                                                                   \
        }                                                                                     \
        double t_ = 0;                                                                        \
        for (size_t c_ = 0; c_ < chunks_; c_++) t_ += part_[c_];                              \
        if (part_ != small_) free(part_);                                                     \
        (total) = t_;                                                                         \
    } while (0)

/* ========================================================================================
 * RNG: xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 * ====================================================================================== */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void rng_seed(Rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

Rng rng_split(Rng *rng)
{
    Rng child;
    rng_seed(&child, rng_next(rng));
    return child;
}

double rng_uniform(Rng *rng) { return (double)(rng_next(rng) >> 11) * 0x1.0p-53; }

double rng_normal(Rng *rng)
{
    /* Box–Muller; 1 - u keeps the logarithm finite. */
    double u = 1.0 - rng_uniform(rng), v = rng_uniform(rng);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

uint64_t rng_below(Rng *rng, uint64_t n)
{
    /* Rejection from the largest multiple of n below 2^64: unbiased. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;
    do x = rng_next(rng);
    while (x >= limit);
    return x % n;
}

int64_t rng_range(Rng *rng, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(rng, (uint64_t)(hi - lo) + 1);
}

void rng_permutation(Rng *rng, size_t n, size_t *perm)
{
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher–Yates */
        size_t j = (size_t)rng_below(rng, i), tmp = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = tmp;
    }
}

size_t rng_categorical(Rng *rng, const double *p, size_t n)
{
    double total = 0.0, acc = 0.0;
    for (size_t k = 0; k < n; k++) total += p[k];
    double u = rng_uniform(rng) * total;
    for (size_t k = 0; k < n; k++) {
        acc += p[k];
        if (u < acc) return k;
    }
    for (size_t k = n; k > 0; k--) /* u landed on the rounding edge: last positive entry */
        if (p[k - 1] > 0) return k - 1;
    return n - 1;
}

/* ========================================================================================
 * RNG: MT19937 and NumPy's legacy permutation, only for the task splits (SPEC 2.4), which
 * must pick the same tasks as the official code's np.random.seed(s); np.random.permutation(k).
 * ====================================================================================== */

void mt19937_seed(Mt19937 *mt, uint32_t seed)
{
    /* init_genrand of Matsumoto & Nishimura's mt19937ar.c, as RandomState.seed(int) calls it */
    mt->key[0] = seed;
    for (uint32_t i = 1; i < MT19937_N; i++)
        mt->key[i] = 1812433253u * (mt->key[i - 1] ^ (mt->key[i - 1] >> 30)) + i;
    mt->pos = MT19937_N;
}

/* Regenerates all 624 words: the twist x_k = x_(k+397) ^ ((upper(x_k) | lower(x_(k+1))) A). */
static void mt19937_twist(Mt19937 *mt)
{
    uint32_t *x = mt->key;
    for (size_t k = 0; k < MT19937_N; k++) {
        uint32_t y = (x[k] & 0x80000000u) | (x[(k + 1) % MT19937_N] & 0x7fffffffu);
        x[k] = x[(k + 397) % MT19937_N] ^ (y >> 1) ^ (y & 1u ? 0x9908b0dfu : 0u);
    }
    mt->pos = 0;
}

uint32_t mt19937_next(Mt19937 *mt)
{
    if (mt->pos == MT19937_N) mt19937_twist(mt);
    uint32_t y = mt->key[mt->pos++];
    y ^= y >> 11;                    /* tempering */
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

/* NumPy's legacy random_interval for max < 2^32: draw 32-bit words, keep the bits of the
 * smallest mask 2^b - 1 >= max, reject until the result is <= max. */
static uint32_t mt19937_interval(Mt19937 *mt, uint32_t max)
{
    uint32_t mask = max, value;
    if (max == 0) return 0;
    mask |= mask >> 1;
    mask |= mask >> 2;
    mask |= mask >> 4;
    mask |= mask >> 8;
    mask |= mask >> 16;
    do value = mt19937_next(mt) & mask;
    while (value > max);
    return value;
}

void numpy_permutation(uint32_t seed, size_t n, size_t *perm)
{
    /* For i >= 2^32 NumPy draws 64 bits as next() << 32 | next(), two calls in one C expression
     * whose order the compiler chooses: there is no single result to reproduce. */
    if ((uint64_t)n > NUMPY_PERMUTATION_MAX)
        rr_fatal("numpy_permutation: n = %zu exceeds 2^32", n);
    Mt19937 mt;
    mt19937_seed(&mt, seed);
    for (size_t i = 0; i < n; i++) perm[i] = i;
    for (size_t i = n; i-- > 1;) { /* legacy RandomState.shuffle: i = n-1 down to 1 */
        size_t j = mt19937_interval(&mt, (uint32_t)i), tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* ========================================================================================
 * Arena: bump allocation in blocks; reset frees everything at once.
 * ====================================================================================== */

static ArenaBlock *arena_block_new(size_t size)
{
    ArenaBlock *b = rr_malloc(sizeof *b + size + 64, "arena block");
    uintptr_t start = (uintptr_t)(b + 1);
    b->base = (unsigned char *)((start + 63) & ~(uintptr_t)63);
    b->prev = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void arena_init(Arena *a, size_t block_bytes)
{
    a->head = NULL;
    a->block_bytes = block_bytes ? block_bytes : ((size_t)1 << 20);
    a->used_bytes = 0;
}

/* Bump allocation without zeroing, for results that are written in full at once. */
static void *arena_alloc_raw(Arena *a, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    if (!a->head || a->head->size - a->head->used < bytes) {
        size_t size = bytes > a->block_bytes ? bytes : a->block_bytes;
        ArenaBlock *b = arena_block_new(size);
        b->prev = a->head;
        a->head = b;
    }
    void *p = a->head->base + a->head->used;
    a->head->used += bytes;
    a->used_bytes += bytes;
    return p;
}

void *arena_alloc(Arena *a, size_t bytes) { return memset(arena_alloc_raw(a, bytes), 0, bytes); }

void arena_reset(Arena *a)
{
    /* One block large enough for everything used so far, so a loop that repeats the same
     * computation settles into a single block after its first pass. */
    if (a->head && a->head->prev) {
        size_t total = a->used_bytes;
        arena_free(a);
        a->head = arena_block_new(total > a->block_bytes ? total : a->block_bytes);
    }
    if (a->head) a->head->used = 0;
    a->used_bytes = 0;
}

void arena_free(Arena *a)
{
    while (a->head) {
        ArenaBlock *prev = a->head->prev;
        free(a->head);
        a->head = prev;
    }
    a->used_bytes = 0;
}

/* ========================================================================================
 * Tensors and the tape
 * ====================================================================================== */

static size_t shape_size(int ndim, const size_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] && n > SIZE_MAX / shape[i]) rr_fatal("tensor shape overflows size_t");
        n *= shape[i];
    }
    return n;
}

void tensor_shape_str(const Tensor *a, char *buf, size_t len)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < a->ndim && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, i ? ", %zu" : "%zu", a->shape[i]);
    if (used < len) snprintf(buf + used, len - used, ")");
}

/* Stops the program: op `name` got shapes it cannot combine. */
static void shape_error(const char *name, const Tensor *a, const Tensor *b, const char *why)
{
    char sa[96], sb[96] = "";
    tensor_shape_str(a, sa, sizeof sa);
    if (b) tensor_shape_str(b, sb, sizeof sb);
    rr_fatal("%s: %s: %s%s%s", name, why, sa, b ? " and " : "", sb);
}

void tape_init(Tape *t)
{
    arena_init(&t->arena, (size_t)1 << 22);
    t->entries = NULL;
    t->count = t->capacity = 0;
    t->record = 1;
    t->training = 0;
    t->rng = NULL;
    t->inner = NULL;
}

void tape_reset(Tape *t)
{
    arena_reset(&t->arena);
    t->count = 0;
}

void tape_free(Tape *t)
{
    if (t->inner) {
        tape_free(t->inner);
        free(t->inner);
        t->inner = NULL;
    }
    arena_free(&t->arena);
    free(t->entries);
    t->entries = NULL;
    t->count = t->capacity = 0;
}

Tensor *tensor_new(Tape *t, int ndim, const size_t *shape, int with_grad)
{
    if (ndim < 1 || ndim > RR_MAXDIM) rr_fatal("tensor_new: %d dimensions (1 to %d allowed)", ndim, RR_MAXDIM);
    Tensor *a = arena_alloc(&t->arena, sizeof *a);
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
    a->size = shape_size(ndim, shape);
    a->data = arena_alloc(&t->arena, a->size * sizeof(real));
    a->grad = with_grad ? arena_alloc(&t->arena, a->size * sizeof(real)) : NULL;
    return a;
}

Tensor tensor_wrap(real *data, real *grad, int ndim, const size_t *shape)
{
    Tensor a;
    memset(&a, 0, sizeof a);
    if (ndim < 1 || ndim > RR_MAXDIM) rr_fatal("tensor_wrap: %d dimensions (1 to %d allowed)", ndim, RR_MAXDIM);
    a.ndim = ndim;
    for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
    a.size = shape_size(ndim, shape);
    a.data = data;
    a.grad = grad;
    return a;
}

Tensor *tensor_view(Tape *t, Tensor *a, int ndim, const size_t *shape)
{
    Tensor *v = arena_alloc(&t->arena, sizeof *v);
    *v = tensor_wrap(a->data, a->grad, ndim, shape);
    if (v->size != a->size) shape_error("view", a, v, "sizes differ");
    return v;
}

/* The result of an op, its data left unwritten for the op to fill in full; it carries a
 * (zeroed) gradient iff the tape records and an input has one. */
static Tensor *result(Tape *t, int ndim, const size_t *shape, const Tensor *a, const Tensor *b)
{
    Tensor *out = arena_alloc(&t->arena, sizeof *out);
    *out = tensor_wrap(NULL, NULL, ndim, shape);
    out->data = arena_alloc_raw(&t->arena, out->size * sizeof(real));
    if (t->record && ((a && a->grad) || (b && b->grad))) out->grad = arena_alloc(&t->arena, out->size * sizeof(real));
    return out;
}

/* The same with the gradient decided by the caller (ops with more than two inputs). */
static Tensor *result_grad(Tape *t, int ndim, const size_t *shape, int with_grad)
{
    Tensor *out = result(t, ndim, shape, NULL, NULL);
    if (t->record && with_grad) out->grad = arena_alloc(&t->arena, out->size * sizeof(real));
    return out;
}

static TapeEntry *push(Tape *t, OpKind op, Tensor *out, Tensor *a, Tensor *b)
{
    if (t->count == t->capacity) {
        t->capacity = t->capacity ? 2 * t->capacity : 1024;
        TapeEntry *e = realloc(t->entries, t->capacity * sizeof *e);
        if (!e) rr_fatal("out of memory growing the tape to %zu entries", t->capacity);
        t->entries = e;
    }
    TapeEntry *e = &t->entries[t->count++];
    memset(e, 0, sizeof *e);
    e->op = op;
    e->out = out;
    e->in[0] = a;
    e->in[1] = b;
    return e;
}

static void *saved_alloc(Tape *t, size_t bytes) { return arena_alloc(&t->arena, bytes); }

typedef void (*BackwardFn)(TapeEntry *e);
static const BackwardFn backward_of[OP_COUNT];

void tape_backward(Tape *t, Tensor *loss)
{
    if (loss->size != 1) rr_fatal("tape_backward: the loss has %zu elements, not 1", loss->size);
    if (!loss->grad) rr_fatal("tape_backward: the loss does not depend on anything with a gradient");
    loss->grad[0] += 1;
    for (size_t i = t->count; i > 0; i--) {
        TapeEntry *e = &t->entries[i - 1];
        backward_of[e->op](e);
    }
}

/* ========================================================================================
 * Elementwise binary ops with broadcasting: b is right-aligned with a and each of its dims
 * equals a's or is 1; the result has a's shape. b is read by strides, 0 along the dims it is
 * broadcast over. Neighbouring dims that b reads alike are merged first, and dims of size 1
 * dropped, which leaves rows of a's last merged dim along which b is either contiguous or
 * constant, so every case runs as plain inner loops the compiler vectorises:
 *     b like a                  one row of a->size, b contiguous
 *     b (n) against (.., n)     rows of n, each reading b from 0
 *     b (B, C, 1, K)            against (B, C, N, K): rows of K, b contiguous from (b C + c) K
 *     b (B, C, N, 1)            against (B, C, N, K): rows of K, b constant, b[(b C + c) N + n]
 * ====================================================================================== */

typedef struct Broadcast {
    int nd;                   /* merged dims of a, outermost first */
    size_t n[RR_MAXDIM];      /* their sizes */
    size_t stride[RR_MAXDIM]; /* b's stride along each; stride[nd - 1] is 1 or 0 */
    size_t rows, row;         /* rows = n[0] ... n[nd - 2], row = n[nd - 1] */
} Broadcast;

/* Checks the shapes (stopping with the op's name and both shapes) and merges the dims. */
static Broadcast broadcast_of(const char *name, const Tensor *a, const Tensor *b)
{
    if (b->ndim > a->ndim) shape_error(name, a, b, "cannot broadcast the second into the first");
    int off = a->ndim - b->ndim, nd = 0;
    size_t n[RR_MAXDIM], stride[RR_MAXDIM], sb = 1; /* innermost first */
    for (int i = a->ndim - 1; i >= 0; i--) {
        size_t db = i >= off ? b->shape[i - off] : 1, s = db == 1 ? 0 : sb;
        if (db != a->shape[i] && db != 1) shape_error(name, a, b, "cannot broadcast the second into the first");
        sb *= db;
        if (a->shape[i] == 1) continue;                       /* moves neither index */
        if (nd > 0 && s == stride[nd - 1] * n[nd - 1]) {      /* continues the inner dim */
            n[nd - 1] *= a->shape[i];
            continue;
        }
        n[nd] = a->shape[i];
        stride[nd++] = s;
    }
    if (nd == 0) { /* a single element */
        n[0] = 1;
        stride[nd++] = 0;
    }
    Broadcast bc;
    bc.nd = nd;
    bc.rows = 1;
    for (int d = 0; d < nd; d++) {
        bc.n[d] = n[nd - 1 - d];
        bc.stride[d] = stride[nd - 1 - d];
        if (d < nd - 1) bc.rows *= bc.n[d];
    }
    bc.row = bc.n[nd - 1];
    return bc;
}

/* b's offset at row r, with the odometer's counts there. */
static size_t row_offset(const Broadcast *bc, size_t r, size_t *count)
{
    size_t j = 0;
    for (int d = bc->nd - 2; d >= 0; d--) {
        count[d] = r % bc->n[d];
        r /= bc->n[d];
        j += count[d] * bc->stride[d];
    }
    return j;
}

/* b's offset at the next row, given its offset j at this one: an odometer over the merged
 * dims but the last (no division per row). */
static size_t next_row(const Broadcast *bc, size_t *count, size_t j)
{
    for (int d = bc->nd - 2; d >= 0; d--) {
        j += bc->stride[d];
        if (++count[d] < bc->n[d]) return j;
        j -= count[d] * bc->stride[d];
        count[d] = 0;
    }
    return j;
}

/* One row: z = x op y, y contiguous (step 1) or the constant y[0] (step 0). */
static void binary_row(OpKind op, size_t n, const real *restrict x, const real *restrict y, size_t step,
                       real *restrict z)
{
    if (step) {
        if (op == OP_ADD) for (size_t i = 0; i < n; i++) z[i] = x[i] + y[i];
        if (op == OP_SUB) for (size_t i = 0; i < n; i++) z[i] = x[i] - y[i];
        if (op == OP_MUL) for (size_t i = 0; i < n; i++) z[i] = x[i] * y[i];
    } else {
        real s = y[0];
        if (op == OP_ADD) for (size_t i = 0; i < n; i++) z[i] = x[i] + s;
        if (op == OP_SUB) for (size_t i = 0; i < n; i++) z[i] = x[i] - s;
        if (op == OP_MUL) for (size_t i = 0; i < n; i++) z[i] = x[i] * s;
    }
}

/* Each thread takes a contiguous share of a's elements, row by row (its first and last rows
 * may be partial). */
static Tensor *binary(Tape *t, OpKind op, const char *name, Tensor *a, Tensor *b)
{
    Broadcast bc = broadcast_of(name, a, b);
    Tensor *out = result(t, a->ndim, a->shape, a, b);
    size_t row = bc.row, step = bc.stride[bc.nd - 1];
    OMP(parallel if (a->size >= PARALLEL_MIN))
    {
        size_t e0, e1, count[RR_MAXDIM], r = 0, j = 0;
        share(a->size, &e0, &e1);
        if (e0 < e1) j = row_offset(&bc, r = e0 / row, count);
        for (size_t e = e0; e < e1; r++, j = next_row(&bc, count, j)) {
            size_t i0 = e - r * row, i1 = min_size(row, e1 - r * row); /* this row's part */
            binary_row(op, i1 - i0, a->data + e, b->data + j + (step ? i0 : 0), step, out->data + e);
            e = r * row + i1;
        }
    }
    if (out->grad) push(t, op, out, a, b);
    return out;
}

Tensor *op_add(Tape *t, Tensor *a, Tensor *b) { return binary(t, OP_ADD, "add", a, b); }
Tensor *op_sub(Tape *t, Tensor *a, Tensor *b) { return binary(t, OP_SUB, "sub", a, b); }
Tensor *op_mul(Tape *t, Tensor *a, Tensor *b) { return binary(t, OP_MUL, "mul", a, b); }

/* sum_i g[i] x[i] (or sum_i g[i] when x is NULL) in double, in a fixed order that the
 * compiler can vectorise: term i goes to partial sum i mod 8, and the eight are added pairwise. */
static double row_sum(size_t n, const real *restrict g, const real *restrict x)
{
    double lane[8] = {0};
    size_t i = 0;
    if (x)
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) lane[l] += (double)g[i + l] * (double)x[i + l];
    else
        for (; i + 8 <= n; i += 8)
            for (int l = 0; l < 8; l++) lane[l] += (double)g[i + l];
    for (; i < n; i++) lane[i % 8] += (double)g[i] * (x ? (double)x[i] : 1.0);
    return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

/* One row of b's gradient before its sign, in double: g (x NULL) or g * x, added element by
 * element into acc (step 1) or summed into acc[0] (step 0). */
static void reduce_row(size_t n, const real *restrict g, const real *restrict x, size_t step, double *restrict acc)
{
    if (step && x) for (size_t i = 0; i < n; i++) acc[i] += (double)g[i] * (double)x[i];
    else if (step) for (size_t i = 0; i < n; i++) acc[i] += (double)g[i];
    else acc[0] += row_sum(n, g, x);
}

/* z = a + b, z = a - b: da += g; db += ±g summed over broadcast dims.
 * z = a * b: da += g * b; db += g * a summed over broadcast dims.
 * The rows are shared out among the threads for da (and db when b is laid out like a). A
 * broadcast db is summed in double, in a's row order, into acc: on one thread in the same
 * pass over the rows; on several, acc's elements are shared out in whole rows' worth, and
 * each thread walks all rows and reduces those whose b offset it owns. Either way every
 * element of acc is summed in the serial order by one thread; acc is added to db at the end. */
static void binary_backward(TapeEntry *e)
{
    Tensor *a = e->in[0], *b = e->in[1];
    Broadcast bc = broadcast_of("backward", a, b);
    size_t row = bc.row, step = bc.stride[bc.nd - 1];
    int mul = e->op == OP_MUL;
    real sign = e->op == OP_SUB ? -1 : 1;
    double *acc = b->grad && b->size != a->size ? rr_calloc(b->size, sizeof *acc, "broadcast gradient") : NULL;
    OMP(parallel if (a->size >= PARALLEL_MIN))
    {
        size_t r0, r1, count[RR_MAXDIM], j;
        int alone = team_size() == 1;
        share(bc.rows, &r0, &r1);
        j = r0 < r1 ? row_offset(&bc, r0, count) : 0;
        for (size_t r = r0; r < r1; r++, j = next_row(&bc, count, j)) {
            const real *restrict g = e->out->grad + r * row, *restrict x = a->data + r * row, *restrict y = b->data + j;
            if (a->grad) {
                real *restrict da = a->grad + r * row;
                if (!mul) for (size_t i = 0; i < row; i++) da[i] += g[i];
                else if (step) for (size_t i = 0; i < row; i++) da[i] += g[i] * y[i];
                else for (size_t i = 0; i < row; i++) da[i] += g[i] * y[0];
            }
            if (b->grad && !acc) { /* nothing broadcast: b laid out like a */
                real *restrict db = b->grad + j;
                if (mul) for (size_t i = 0; i < row; i++) db[i] += g[i] * x[i];
                else for (size_t i = 0; i < row; i++) db[i] += sign * g[i];
            }
            if (acc && alone) reduce_row(row, g, mul ? x : NULL, step, acc + j);
        }
        if (acc && !alone) {
            size_t unit = step ? row : 1, k0, k1; /* a row reduces into acc[j .. j + unit) */
            share(b->size / unit, &k0, &k1);
            for (int d = 0; d < bc.nd; d++) count[d] = 0;
            j = 0;
            for (size_t r = 0; r < bc.rows; r++, j = next_row(&bc, count, j))
                if (j >= k0 * unit && j < k1 * unit)
                    reduce_row(row, e->out->grad + r * row, mul ? a->data + r * row : NULL, step, acc + j);
        }
    }
    if (acc) {
        OMP(parallel for schedule(static) if (b->size >= PARALLEL_MIN))
        for (size_t k = 0; k < b->size; k++) b->grad[k] += (real)(sign * acc[k]);
        free(acc);
    }
}

/* dst[i] += src[i] */
static void add_into(real *restrict dst, const real *restrict src, size_t n)
{
    OMP(parallel for schedule(static) if (n >= PARALLEL_MIN))
    for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* z = s * a: da += s * g */
Tensor *op_scale(Tape *t, Tensor *a, real s)
{
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t i = 0; i < a->size; i++) out->data[i] = s * a->data[i];
    if (out->grad) push(t, OP_SCALE, out, a, NULL)->rarg[0] = s;
    return out;
}
static void scale_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t i = 0; i < a->size; i++) a->grad[i] += e->rarg[0] * e->out->grad[i];
}

/* z = a + s: da += g */
Tensor *op_add_scalar(Tape *t, Tensor *a, real s)
{
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t i = 0; i < a->size; i++) out->data[i] = a->data[i] + s;
    if (out->grad) push(t, OP_ADD_SCALAR, out, a, NULL);
    return out;
}
static void add_scalar_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (a->grad) add_into(a->grad, e->out->grad, a->size);
}

/* ========================================================================================
 * Matrix products
 * ====================================================================================== */

/* Product of all dims but the last two: the batch of a matrix product. */
static size_t leading_size(const Tensor *a)
{
    size_t n = 1;
    for (int i = 0; i < a->ndim - 2; i++) n *= a->shape[i];
    return n;
}

/* (.., M, K) x (.., K, N) -> (.., M, N), op = transpose of the last two dims when flagged.
 * Both are batched alike, or one of them is 2-D and shared by every batch element of the
 * other: (.., M, K) x (K, N), or (M, K) x (.., K, N) (a 1×1 convolution W x[b] over a batch). */
Tensor *op_matmul(Tape *t, Tensor *a, Tensor *b, int trans_a, int trans_b)
{
    if (a->ndim < 2 || b->ndim < 2) shape_error("matmul", a, b, "needs two dims each");
    size_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    size_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    size_t M = trans_a ? ac : ar, K = trans_a ? ar : ac, Kb = trans_b ? bc : br, N = trans_b ? br : bc;
    if (K != Kb) shape_error("matmul", a, b, "inner dims differ");
    int shared_a = a->ndim == 2 && b->ndim > 2, shared_b = b->ndim == 2;
    const Tensor *batched = shared_a ? b : a; /* the operand whose leading dims the result has */
    if (!shared_a && !shared_b) {
        if (b->ndim != a->ndim) shape_error("matmul", a, b, "batch dims differ");
        for (int i = 0; i < a->ndim - 2; i++)
            if (a->shape[i] != b->shape[i]) shape_error("matmul", a, b, "batch dims differ");
    }
    size_t batch = leading_size(batched), shape[RR_MAXDIM];
    int nd = batched->ndim;
    for (int i = 0; i < nd - 2; i++) shape[i] = batched->shape[i];
    shape[nd - 2] = M;
    shape[nd - 1] = N;
    Tensor *out = result(t, nd, shape, a, b);
    memset(out->data, 0, out->size * sizeof(real)); /* the kernel accumulates into it */
    /* Each product on the kernel's threads when it is large; small ones shared out instead. */
    int spread = !(shared_b && !trans_a) && batch > 1 && batch * M * N * K >= GEMM_PARALLEL_MIN &&
                 (M * N * K < GEMM_PARALLEL_MIN || batch >= 4 * rr_threads());
    if (shared_b && !trans_a) { /* fold the batch into the rows: one large product */
        gemm_fast(batch * M, N, K, a->data, ac, 0, b->data, bc, trans_b, out->data, N);
    } else {
        OMP(parallel for schedule(static) if (spread))
        for (size_t s = 0; s < batch; s++)
            gemm_fast(M, N, K, a->data + (shared_a ? 0 : s * ar * ac), ac, trans_a,
                      b->data + (shared_b ? 0 : s * br * bc), bc, trans_b, out->data + s * M * N, N);
    }
    if (out->grad) {
        TapeEntry *e = push(t, OP_MATMUL, out, a, b);
        e->iarg[0] = (size_t)trans_a;
        e->iarg[1] = (size_t)trans_b;
        e->iarg[2] = (size_t)spread;
    }
    return out;
}

/* C = op(A) op(B), per batch element s:
 *   dA += dC op(B)^T   (stored as A^T when trans_a: dA^T += op(B) dC^T)
 *   dB += op(A)^T dC   (stored as B^T when trans_b: dB^T += dC^T op(A))
 * A shared operand's gradient is the sum of these over s, added in increasing s; the batched
 * operand's gradients, one per s, are shared out among the threads as in the forward. */
static void matmul_gradients(TapeEntry *e, size_t s, int of_a)
{
    Tensor *a = e->in[0], *b = e->in[1];
    int ta = (int)e->iarg[0], tb = (int)e->iarg[1];
    int shared_a = a->ndim == 2 && b->ndim > 2, shared_b = b->ndim == 2;
    size_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    size_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    size_t M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
    if (shared_b && !ta) M *= leading_size(a); /* the folded batch, as in the forward: s is 0 */
    size_t sa = shared_a ? 0 : s * M * K, sb = shared_b ? 0 : s * br * bc;
    const real *gs = e->out->grad + s * M * N, *as = a->data + sa, *bs = b->data + sb;
    if (of_a) {
        real *da = a->grad + sa;
        if (!ta) gemm_fast(M, K, N, gs, N, 0, bs, bc, !tb, da, K);
        else gemm_fast(K, M, N, bs, bc, tb, gs, N, 1, da, M);
    } else {
        real *db = b->grad + sb;
        if (!tb) gemm_fast(K, N, M, as, ac, !ta, gs, N, 0, db, N);
        else gemm_fast(N, K, M, gs, N, 1, as, ac, ta, db, K);
    }
}

static void matmul_backward(TapeEntry *e)
{
    Tensor *a = e->in[0], *b = e->in[1];
    int ta = (int)e->iarg[0], shared_a = a->ndim == 2 && b->ndim > 2, shared_b = b->ndim == 2;
    size_t batch = shared_b && !ta ? 1 : leading_size(shared_a ? b : a);
    OMP(parallel for schedule(static) if (e->iarg[2])) /* the products shared out, as in the forward */
    for (size_t s = 0; s < batch; s++) {
        if (a->grad && !shared_a) matmul_gradients(e, s, 1);
        if (b->grad && !shared_b) matmul_gradients(e, s, 0);
    }
    for (size_t s = 0; s < batch; s++) {
        if (a->grad && shared_a) matmul_gradients(e, s, 1);
        if (b->grad && shared_b) matmul_gradients(e, s, 0);
    }
}

static size_t rows_of(const Tensor *a) { return a->size / a->shape[a->ndim - 1]; }

/* y = x W^T + bias, x (R, in) after flattening, W (out, in), bias (out) */
Tensor *op_linear(Tape *t, Tensor *x, Tensor *W, Tensor *bias)
{
    size_t in = x->shape[x->ndim - 1], nout = W->shape[0];
    if (W->ndim != 2 || W->shape[1] != in) shape_error("linear", x, W, "input width differs from the weight's columns");
    if (bias && (bias->ndim != 1 || bias->shape[0] != nout)) shape_error("linear", W, bias, "bias does not match the weight's rows");
    size_t R = rows_of(x), shape[RR_MAXDIM];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 1] = nout;
    Tensor *out = result_grad(t, x->ndim, shape, x->grad || W->grad || (bias && bias->grad));
    if (bias) {
        OMP(parallel for schedule(static) if (R * nout >= PARALLEL_MIN))
        for (size_t r = 0; r < R; r++) memcpy(out->data + r * nout, bias->data, nout * sizeof(real));
    } else {
        memset(out->data, 0, out->size * sizeof(real)); /* the kernel accumulates into it */
    }
    gemm_fast(R, nout, in, x->data, in, 0, W->data, in, 1, out->data, nout);
    if (out->grad) push(t, OP_LINEAR, out, x, W)->in[2] = bias;
    return out;
}

/* Sum over rows of g (R, n) into dst (n), each column accumulated in double in row order;
 * the threads share out blocks of columns. */
static void add_column_sums(real *dst, const real *g, size_t R, size_t n)
{
    enum { BLOCK = 64 };
    OMP(parallel for schedule(static) if (R * n >= PARALLEL_MIN))
    for (size_t j0 = 0; j0 < n; j0 += BLOCK) {
        size_t w = min_size(BLOCK, n - j0);
        double acc[BLOCK] = {0};
        for (size_t r = 0; r < R; r++)
            for (size_t j = 0; j < w; j++) acc[j] += g[r * n + j0 + j];
        for (size_t j = 0; j < w; j++) dst[j0 + j] += (real)acc[j];
    }
}

/* y = x W^T + b:  dx += dy W;  dW += dy^T x;  db += sum over rows of dy */
static void linear_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *W = e->in[1], *bias = e->in[2];
    size_t in = W->shape[1], nout = W->shape[0], R = rows_of(x);
    const real *g = e->out->grad;
    if (x->grad) gemm_fast(R, in, nout, g, nout, 0, W->data, in, 0, x->grad, in);
    if (W->grad) gemm_fast(nout, in, R, g, nout, 1, x->data, in, 0, W->grad, in);
    if (bias && bias->grad) add_column_sums(bias->grad, g, R, nout);
}

/* Each sample s its own weights: y[s] = x[s] W[s]^T + bias[s]; x (B, M, in), W (B, out, in).
 * M is small (the probing streams), so this is a loop of dot products, not a packed gemm. */
Tensor *op_linear_batched(Tape *t, Tensor *x, Tensor *W, Tensor *bias)
{
    if (x->ndim != 3 || W->ndim != 3 || x->shape[0] != W->shape[0] || x->shape[2] != W->shape[2])
        shape_error("linear_batched", x, W, "want x (B, M, in) and W (B, out, in)");
    size_t B = x->shape[0], M = x->shape[1], in = x->shape[2], nout = W->shape[1];
    if (bias && (bias->ndim != 2 || bias->shape[0] != B || bias->shape[1] != nout))
        shape_error("linear_batched", W, bias, "want bias (B, out)");
    Tensor *out = result_grad(t, 3, (size_t[]){B, M, nout}, x->grad || W->grad || (bias && bias->grad));
    OMP(parallel for schedule(static) if (B * M * nout * in >= GEMM_PARALLEL_MIN))
    for (size_t s = 0; s < B; s++)
        for (size_t m = 0; m < M; m++) {
            const real *xs = x->data + (s * M + m) * in;
            real *ys = out->data + (s * M + m) * nout;
            for (size_t o = 0; o < nout; o++) {
                const real *w = W->data + (s * nout + o) * in;
                real acc = bias ? bias->data[s * nout + o] : 0;
                for (size_t i = 0; i < in; i++) acc += w[i] * xs[i];
                ys[o] = acc;
            }
        }
    if (out->grad) push(t, OP_LINEAR_BATCHED, out, x, W)->in[2] = bias;
    return out;
}

/* y[s,m,o] = sum_i W[s,o,i] x[s,m,i] + b[s,o]:
 *   dx[s,m,i] += sum_o dy[s,m,o] W[s,o,i];  dW[s,o,i] += sum_m dy[s,m,o] x[s,m,i];  db[s,o] += sum_m dy[s,m,o] */
static void linear_batched_backward(TapeEntry *e)
{
    Tensor *x = e->in[0], *W = e->in[1], *bias = e->in[2];
    size_t B = x->shape[0], M = x->shape[1], in = x->shape[2], nout = W->shape[1];
    const real *g = e->out->grad;
    OMP(parallel for schedule(static) if (B * M * nout * in >= GEMM_PARALLEL_MIN)) /* sample s's gradients are its own */
    for (size_t s = 0; s < B; s++)
        for (size_t m = 0; m < M; m++) {
            const real *gs = g + (s * M + m) * nout, *xs = x->data + (s * M + m) * in;
            for (size_t o = 0; o < nout; o++) {
                real go = gs[o];
                const real *w = W->data + (s * nout + o) * in;
                if (x->grad) {
                    real *dx = x->grad + (s * M + m) * in;
                    for (size_t i = 0; i < in; i++) dx[i] += go * w[i];
                }
                if (W->grad) {
                    real *dw = W->grad + (s * nout + o) * in;
                    for (size_t i = 0; i < in; i++) dw[i] += go * xs[i];
                }
                if (bias && bias->grad) bias->grad[s * nout + o] += go;
            }
        }
}

/* ========================================================================================
 * Kernels: C (M, N) += op(A) (M, K) op(B) (K, N)
 * ====================================================================================== */

#define A_AT(i, k) (trans_a ? A[(k) * lda + (i)] : A[(i) * lda + (k)])
#define B_AT(k, j) (trans_b ? B[(j) * ldb + (k)] : B[(k) * ldb + (j)])

/* The reference: one dot product per element, k increasing. */
void gemm_naive(size_t M, size_t N, size_t K, const real *A, size_t lda, int trans_a,
                const real *B, size_t ldb, int trans_b, real *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            real acc = 0;
            for (size_t k = 0; k < K; k++) acc += A_AT(i, k) * B_AT(k, j);
            C[i * ldc + j] += acc;
        }
}

/* The fast kernel (the BLIS scheme): op(B) is packed into NR-wide column panels for each
 * KC-deep slice of K, op(A) into MR-tall row panels one MC x KC block at a time (zero-padded
 * at the edges, which also absorbs the transposes), then an MR x NR micro-kernel keeps its
 * block of C in registers while it runs down the slice. Inner loops are fixed-width so the
 * compiler vectorises them. Every C element receives, slice after slice, the sum over the
 * slice's k in increasing order: how the rows or columns of C are shared out between threads
 * changes no bit. */
#ifdef RNNREP_DOUBLE
enum { GEMM_MR = 6, GEMM_NR = 16 };
#else
enum { GEMM_MR = 6, GEMM_NR = 32 };
#endif
enum { GEMM_KC = 256, GEMM_MC = 120, GEMM_NC = 2048 };

static size_t round_up(size_t n, size_t m) { return (n + m - 1) / m * m; }

/* Both packers read their source along its rows (contiguous) and write into the small,
 * cache-resident panel with a stride, whichever way the operand is transposed. */
static void pack_a(size_t mc, size_t kc, const real *A, size_t lda, int trans_a, size_t i0, size_t k0,
                   real *restrict Ap)
{
    for (size_t ip = 0; ip < mc; ip += GEMM_MR) {
        size_t mr = mc - ip < GEMM_MR ? mc - ip : GEMM_MR;
        real *panel = Ap + ip * kc;
        if (mr < GEMM_MR) memset(panel, 0, kc * GEMM_MR * sizeof(real));
        if (!trans_a)
            for (size_t i = 0; i < mr; i++) {
                const real *src = A + (i0 + ip + i) * lda + k0;
                for (size_t k = 0; k < kc; k++) panel[k * GEMM_MR + i] = src[k];
            }
        else if (mr == GEMM_MR) /* a fixed width: moves, not a memcpy call per k */
            for (size_t k = 0; k < kc; k++) {
                const real *src = A + (k0 + k) * lda + i0 + ip;
                for (int i = 0; i < GEMM_MR; i++) panel[k * GEMM_MR + i] = src[i];
            }
        else
            for (size_t k = 0; k < kc; k++) {
                const real *src = A + (k0 + k) * lda + i0 + ip;
                for (size_t i = 0; i < mr; i++) panel[k * GEMM_MR + i] = src[i];
            }
    }
}

/* One panel: columns j0 .. j0 + nr - 1 (nr <= NR) of op(B)'s rows k0 .. k0 + kc - 1. */
static void pack_b_panel(size_t nr, size_t kc, const real *B, size_t ldb, int trans_b, size_t k0, size_t j0,
                         real *restrict panel)
{
    if (nr < GEMM_NR) memset(panel, 0, kc * GEMM_NR * sizeof(real));
    if (trans_b)
        for (size_t j = 0; j < nr; j++) {
            const real *src = B + (j0 + j) * ldb + k0;
            for (size_t k = 0; k < kc; k++) panel[k * GEMM_NR + j] = src[k];
        }
    else if (nr == GEMM_NR)
        for (size_t k = 0; k < kc; k++) memcpy(panel + k * GEMM_NR, B + (k0 + k) * ldb + j0, GEMM_NR * sizeof(real));
    else
        for (size_t k = 0; k < kc; k++) memcpy(panel + k * GEMM_NR, B + (k0 + k) * ldb + j0, nr * sizeof(real));
}

/* C[0:mr, 0:nr] += Ap (MR, kc as packed) x Bp (kc, NR as packed) */
static void micro_kernel(size_t kc, const real *restrict Ap, const real *restrict Bp, real *restrict C,
                         size_t ldc, size_t mr, size_t nr)
{
    real acc[GEMM_MR][GEMM_NR];
    for (int i = 0; i < GEMM_MR; i++)
        for (int j = 0; j < GEMM_NR; j++) acc[i][j] = 0;
    for (size_t k = 0; k < kc; k++) {
        const real *restrict b = Bp + k * GEMM_NR;
        const real *restrict a = Ap + k * GEMM_MR;
        for (int i = 0; i < GEMM_MR; i++)
            for (int j = 0; j < GEMM_NR; j++) acc[i][j] += a[i] * b[j];
    }
    if (mr == GEMM_MR && nr == GEMM_NR) {
        for (int i = 0; i < GEMM_MR; i++)
            for (int j = 0; j < GEMM_NR; j++) C[i * ldc + j] += acc[i][j];
    } else {
        for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++) C[i * ldc + j] += acc[i][j];
    }
}

/* The room for one MC x KC block of op(A), K deep; thread me's is at a_block(p, me). */
static size_t a_block_size(size_t K) { return GEMM_MC * min_size(K ? K : 1, GEMM_KC); }
static real *a_block(const GemmPacked *p, size_t me) { return p->a_blocks + me * a_block_size(p->K); }

/* Layout of a packed op(B) (K, N): the KC-deep slices one after the other, slice k0 holding
 * round_up(N, NR) / NR panels of (kc, NR); slice k0 starts at k0 * round_up(N, NR). */
static void pack_b(GemmPacked *p, const real *B, size_t ldb, int trans_b)
{
    size_t K = p->K, N = p->N, width = round_up(N, GEMM_NR), panels = width / GEMM_NR, slices = (K + GEMM_KC - 1) / GEMM_KC;
    OMP(parallel for schedule(static) if (p->threads > 1 && K * N >= PARALLEL_MIN))
    for (size_t q = 0; q < slices * panels; q++) {
        size_t k0 = q / panels * GEMM_KC, j0 = q % panels * GEMM_NR, kc = min_size(GEMM_KC, K - k0);
        pack_b_panel(min_size(GEMM_NR, N - j0), kc, B, ldb, trans_b, k0, j0, p->panels + k0 * width + j0 * kc);
    }
}

void gemm_pack(GemmPacked *p, size_t K, size_t N, const real *B, size_t ldb, int trans_b)
{
    size_t width = round_up(N, GEMM_NR);
    p->K = K;
    p->N = N;
    p->panels = rr_malloc((K * width > 0 ? K * width : 1) * sizeof(real), "gemm packed B");
    p->threads = rr_threads();
    p->a_blocks = rr_malloc(p->threads * a_block_size(K) * sizeof(real), "gemm A blocks");
    pack_b(p, B, ldb, trans_b);
}

void gemm_pack_free(GemmPacked *p)
{
    free(p->panels);
    free(p->a_blocks);
    p->panels = p->a_blocks = NULL;
}

/* C[i_begin:i_end, j_begin:j_end] += op(A) B on one thread (j_begin at a panel's start), with
 * the A block Ap: the serial algorithm on a part of C. */
static void gemm_part(size_t i_begin, size_t i_end, size_t j_begin, size_t j_end, const real *A, size_t lda,
                      int trans_a, const GemmPacked *p, real *C, size_t ldc, real *Ap)
{
    size_t K = p->K, width = round_up(p->N, GEMM_NR);
    for (size_t jc = j_begin; jc < j_end; jc += GEMM_NC) {
        size_t jc_end = min_size(j_end, jc + GEMM_NC);
        for (size_t k0 = 0; k0 < K; k0 += GEMM_KC) {
            size_t kc = min_size(GEMM_KC, K - k0);
            const real *slice = p->panels + k0 * width;
            for (size_t i0 = i_begin; i0 < i_end; i0 += GEMM_MC) {
                size_t mc = min_size(GEMM_MC, i_end - i0);
                pack_a(mc, kc, A, lda, trans_a, i0, k0, Ap);
                for (size_t jp = jc; jp < jc_end; jp += GEMM_NR)
                    for (size_t ip = 0; ip < mc; ip += GEMM_MR)
                        micro_kernel(kc, Ap + ip * kc, slice + jp * kc, C + (i0 + ip) * ldc + jp, ldc,
                                     min_size(GEMM_MR, mc - ip), min_size(GEMM_NR, jc_end - jp));
            }
        }
    }
}

/* The threads share out C's MR-row tiles or its NR-column panels, whichever are more, in
 * contiguous runs, one run each. */
void gemm_packed(size_t M, const real *A, size_t lda, int trans_a, GemmPacked *p, real *C, size_t ldc)
{
    size_t N = p->N, K = p->K;
    if (M == 0 || N == 0 || K == 0) return;
    size_t row_tiles = (M + GEMM_MR - 1) / GEMM_MR, col_panels = (N + GEMM_NR - 1) / GEMM_NR;
    int by_rows = row_tiles > col_panels;
    size_t units = by_rows ? row_tiles : col_panels;
    OMP(parallel num_threads(team_for(M * N * K >= GEMM_PARALLEL_MIN, min_size(p->threads, units))))
    {
        size_t u0, u1;
        share(units, &u0, &u1);
        real *Ap = a_block(p, (size_t)thread_index());
        if (u0 < u1 && by_rows)
            gemm_part(u0 * GEMM_MR, min_size(M, u1 * GEMM_MR), 0, N, A, lda, trans_a, p, C, ldc, Ap);
        else if (u0 < u1)
            gemm_part(0, M, u0 * GEMM_NR, min_size(N, u1 * GEMM_NR), A, lda, trans_a, p, C, ldc, Ap);
    }
}

/* Each thread's room for a product it runs alone (its packed B, then its A block), by its
 * thread_slot: kept from call to call, so that the many small products (and the products of
 * the threads of a parallel loop) neither allocate nor start threads. NULL without a slot
 * (active nested teams, or more than RR_MAX_THREADS threads), where the caller allocates. */
static real *gemm_scratch[RR_MAX_THREADS];
static size_t gemm_scratch_size[RR_MAX_THREADS];

static real *gemm_scratch_for(size_t n)
{
    int slot = thread_slot();
    if (slot < 0 || slot >= RR_MAX_THREADS) return NULL;
    size_t me = (size_t)slot;
    if (n > gemm_scratch_size[me]) {
        free(gemm_scratch[me]);
        gemm_scratch[me] = rr_malloc(n * sizeof(real), "gemm scratch");
        gemm_scratch_size[me] = n;
    }
    return gemm_scratch[me];
}

/* A product too small to share out, or one inside a parallel loop, runs on this thread alone
 * in its scratch; a larger one packs B into a GemmPacked and shares C out (gemm_packed). The
 * same bits either way: the panels and the order of every sum are the same. */
void gemm_fast(size_t M, size_t N, size_t K, const real *A, size_t lda, int trans_a,
               const real *B, size_t ldb, int trans_b, real *C, size_t ldc)
{
    if (M == 0 || N == 0 || K == 0) return;
    if (M * N * K < GEMM_PARALLEL_MIN || in_parallel() || rr_threads() == 1) {
        size_t width = round_up(N, GEMM_NR), n = K * width + a_block_size(K);
        real *own = NULL, *room = gemm_scratch_for(n);
        if (!room) room = own = rr_malloc(n * sizeof(real), "gemm scratch");
        GemmPacked p = {K, N, room, room + K * width, 1};
        pack_b(&p, B, ldb, trans_b);
        gemm_part(0, M, 0, N, A, lda, trans_a, &p, C, ldc, p.a_blocks);
        free(own);
        return;
    }
    GemmPacked p;
    gemm_pack(&p, K, N, B, ldb, trans_b);
    gemm_packed(M, A, lda, trans_a, &p, C, ldc);
    gemm_pack_free(&p);
}
#undef A_AT
#undef B_AT

/* ========================================================================================
 * Elementwise unary ops. Forward y = f(x); backward dx += g * f'(x), with f' written in
 * terms of whichever of x or y is cheaper.
 * ====================================================================================== */

/* exp in double, written so that the compiler vectorises the loops that call it (libm's exp
 * is a call per element): x = k ln 2 + r with k = round(x / ln 2) (the 1.5 2^52 shift, exact
 * in round-to-nearest), ln 2 in two parts (Cody and Waite) so k ln 2 is exact, exp(r) for
 * |r| <= ln 2 / 2 by its Taylor polynomial of degree 13 (truncation below 5e-18), then 2^k
 * made in the exponent bits. Within 2 ulp of libm's exp (tests/test_kernels.c); below
 * exp(-708) it gives 0 (no subnormals), above 709 infinity, NaN for NaN. No branches: an x
 * out of range is computed as 0 (its bits masked, so that every path reads x) and the result
 * then multiplied by infinity or 0; a branch would keep GCC from vectorising under the
 * default -ftrapping-math. */
static inline double exp_above(double x, double above) /* `above`: the result past 709 */
{
    const double shift = 0x1.8p52, log2e = 1.4426950408889634, ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10;
    int over = x > 709.0, under = x < -708.0;
    union { double d; uint64_t u; } xc = {x}, scale;
    xc.u &= over | under ? 0 : ~(uint64_t)0;
    double t = xc.d * log2e + shift, k = t - shift;
    double r = xc.d - k * ln2_hi;
    r = r - k * ln2_lo;
    double p = 1.0 / 6227020800.0;                             /* 1/13! */
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    scale.d = t;                                /* the low bits of t's significand hold k */
    scale.u = (scale.u + 1023) << 52;           /* 2^k: k + 1023 in [1, 2046] */
    return p * scale.d * (over ? above : under ? 0.0 : 1.0);
}
static inline double exp_v(double x) { return exp_above(x, HUGE_VAL); }
double rr_exp(double x) { return exp_v(x); }

#ifdef RNNREP_DOUBLE
/* The double build is the reference: libm throughout. */
#define EXP exp
#define EXP_D exp
#define LOG log
static real tanh_r(real x) { return tanh(x); }
static real sigmoid(real x) { return 1 / (1 + exp(-x)); }
#else
#define EXP expf
#define EXP_D exp_v   /* exp of a double in the float build's row loops */
#define LOG logf
/* float: evaluated through double exp, which is exact to well below float's rounding (no
 * cancellation worth the name in e - 1 at double precision) and several times faster than
 * glibc's tanhf. Past |x| = 20 the quotient is +-1 exactly in double (e is held finite
 * past exp(709); NaN stays NaN). */
static real tanh_r(real x)
{
    double e = exp_above(2.0 * x, 1e300);
    return (real)((e - 1) / (e + 1));
}
/* exp(-x) rounded to float, as expf gives it (but for the last bit, rarely) */
static real sigmoid(real x) { return 1 / (1 + (real)exp_v(-(double)x)); }
#endif

static Tensor *unary(Tape *t, OpKind op, Tensor *a)
{
    if (op < OP_SIGMOID || op > OP_ABS) rr_fatal("unary: %s is not a unary op", op_names[op]);
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    const real *x = a->data;
    real *y = out->data;
    OMP(parallel if (a->size >= PARALLEL_MIN))
    {
        size_t i0, i1;
        share(a->size, &i0, &i1);
        switch (op) {
        case OP_SIGMOID: for (size_t i = i0; i < i1; i++) y[i] = sigmoid(x[i]); break;   /* y(1 - y) */
        case OP_TANH: for (size_t i = i0; i < i1; i++) y[i] = tanh_r(x[i]); break;         /* 1 - y^2 */
        case OP_RELU: for (size_t i = i0; i < i1; i++) y[i] = x[i] <= 0 ? 0 : x[i]; break; /* [x > 0]; NaN stays NaN, as torch.relu */
        case OP_EXP: for (size_t i = i0; i < i1; i++) y[i] = EXP(x[i]); break;           /* y */
        case OP_LOG: for (size_t i = i0; i < i1; i++) y[i] = LOG(x[i]); break;           /* 1 / x */
        case OP_ABS: for (size_t i = i0; i < i1; i++) y[i] = x[i] < 0 ? -x[i] : x[i]; break; /* sign(x) */
        default: break;
        }
    }
    if (out->grad) push(t, op, out, a, NULL);
    return out;
}

static void unary_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    const real *x = a->data, *y = e->out->data, *g = e->out->grad;
    real *dx = a->grad;
    OMP(parallel if (a->size >= PARALLEL_MIN))
    {
        size_t i0, i1;
        share(a->size, &i0, &i1);
        switch (e->op) {
        case OP_SIGMOID: for (size_t i = i0; i < i1; i++) dx[i] += g[i] * y[i] * (1 - y[i]); break;
        case OP_TANH: for (size_t i = i0; i < i1; i++) dx[i] += g[i] * (1 - y[i] * y[i]); break;
        case OP_RELU: for (size_t i = i0; i < i1; i++) dx[i] += x[i] > 0 ? g[i] : 0; break;
        case OP_EXP: for (size_t i = i0; i < i1; i++) dx[i] += g[i] * y[i]; break;
        case OP_LOG: for (size_t i = i0; i < i1; i++) dx[i] += g[i] / x[i]; break;
        case OP_ABS: for (size_t i = i0; i < i1; i++) dx[i] += x[i] > 0 ? g[i] : x[i] < 0 ? -g[i] : 0; break;
        default: break;
        }
    }
}

Tensor *op_sigmoid(Tape *t, Tensor *a) { return unary(t, OP_SIGMOID, a); }
Tensor *op_tanh(Tape *t, Tensor *a) { return unary(t, OP_TANH, a); }
Tensor *op_relu(Tape *t, Tensor *a) { return unary(t, OP_RELU, a); }
Tensor *op_exp(Tape *t, Tensor *a) { return unary(t, OP_EXP, a); }
Tensor *op_log(Tape *t, Tensor *a) { return unary(t, OP_LOG, a); }
Tensor *op_abs(Tape *t, Tensor *a) { return unary(t, OP_ABS, a); }

/* ========================================================================================
 * Reductions (accumulated in double)
 * ====================================================================================== */

/* View a as (outer, n, inner) around `axis`. */
static void split_at_axis(const Tensor *a, int axis, size_t *outer, size_t *n, size_t *inner)
{
    *outer = *inner = 1;
    for (int i = 0; i < axis; i++) *outer *= a->shape[i];
    *n = a->shape[axis];
    for (int i = axis + 1; i < a->ndim; i++) *inner *= a->shape[i];
}

static int check_axis(const char *name, const Tensor *a, int axis)
{
    if (axis < 0) axis += a->ndim;
    if (axis < 0 || axis >= a->ndim) shape_error(name, a, NULL, "axis out of range for");
    return axis;
}

/* y[o, j] = sum_k a[o, k, j] (sum), or that sum / n (mean) */
static Tensor *reduce_axis(Tape *t, OpKind op, Tensor *a, int axis)
{
    axis = check_axis(op_names[op], a, axis);
    size_t outer, n, inner, shape[RR_MAXDIM];
    split_at_axis(a, axis, &outer, &n, &inner);
    int nd = 0;
    for (int i = 0; i < a->ndim; i++)
        if (i != axis) shape[nd++] = a->shape[i];
    if (nd == 0) shape[nd++] = 1;
    Tensor *out = result(t, nd, shape, a, NULL);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t o = 0; o < outer; o++)
        for (size_t j = 0; j < inner; j++) {
            double acc = 0;
            for (size_t k = 0; k < n; k++) acc += a->data[(o * n + k) * inner + j];
            out->data[o * inner + j] = (real)(op == OP_MEAN_AXIS ? acc / (double)n : acc);
        }
    if (out->grad) push(t, op, out, a, NULL)->iarg[0] = (size_t)axis;
    return out;
}

/* da[o, k, j] += s * g[o, j] */
static void reduce_axis_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    size_t outer, n, inner;
    split_at_axis(a, (int)e->iarg[0], &outer, &n, &inner);
    real s = e->op == OP_MEAN_AXIS ? (real)(1.0 / (double)n) : 1;
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t o = 0; o < outer; o++)
        for (size_t k = 0; k < n; k++)
            for (size_t j = 0; j < inner; j++) a->grad[(o * n + k) * inner + j] += s * e->out->grad[o * inner + j];
}

Tensor *op_sum_axis(Tape *t, Tensor *a, int axis) { return reduce_axis(t, OP_SUM_AXIS, a, axis); }
Tensor *op_mean_axis(Tape *t, Tensor *a, int axis) { return reduce_axis(t, OP_MEAN_AXIS, a, axis); }

/* y = s * sum_i a[i]; da += s * g */
static Tensor *reduce_all(Tape *t, OpKind op, Tensor *a)
{
    Tensor *out = result(t, 1, (size_t[]){1}, a, NULL);
    double acc;
    CHUNKED_SUM(acc, a->size, i, a->data[i]);
    out->data[0] = (real)(op == OP_MEAN_ALL ? acc / (double)a->size : acc);
    if (out->grad) push(t, op, out, a, NULL);
    return out;
}
static void reduce_all_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    real g = e->out->grad[0] * (e->op == OP_MEAN_ALL ? (real)(1.0 / (double)a->size) : 1);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t i = 0; i < a->size; i++) a->grad[i] += g;
}
Tensor *op_sum_all(Tape *t, Tensor *a) { return reduce_all(t, OP_SUM_ALL, a); }
Tensor *op_mean_all(Tape *t, Tensor *a) { return reduce_all(t, OP_MEAN_ALL, a); }

/* ========================================================================================
 * Statistics over the last dim (rows of width n), in double and rounded once: the unbiased
 * variance (torch.var) and quantiles (torch.quantile, linear interpolation).
 * ====================================================================================== */

/* a's shape with the last dim replaced by n, or removed when n == 0 ((1) for a vector). */
static int shape_with_last(const Tensor *a, size_t n, size_t *shape)
{
    int nd = a->ndim - 1;
    for (int i = 0; i < nd; i++) shape[i] = a->shape[i];
    if (n || nd == 0) shape[nd++] = n ? n : 1;
    return nd;
}

/* Σ_i x_i / n, summed in double */
static double row_mean(const real *x, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += x[i];
    return sum / (double)n;
}

/* y = Σ_i (x_i - m)^2 / (n - 1), m = Σ_i x_i / n: two passes, so that no large sum of squares
 * cancels. */
Tensor *op_variance(Tape *t, Tensor *a)
{
    size_t n = a->shape[a->ndim - 1], R = rows_of(a), shape[RR_MAXDIM];
    if (n < 2) shape_error("variance", a, NULL, "needs at least 2 entries in the last dim of");
    Tensor *out = result(t, shape_with_last(a, 0, shape), shape, a, NULL);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        const real *x = a->data + r * n;
        double m = row_mean(x, n), sq = 0;
        for (size_t i = 0; i < n; i++) sq += ((double)x[i] - m) * ((double)x[i] - m);
        out->data[r] = (real)(sq / (double)(n - 1));
    }
    if (out->grad) push(t, OP_VARIANCE, out, a, NULL);
    return out;
}
/* y = Σ_i (x_i - m)^2 / (n - 1):  dx_i += g 2 (x_i - m) / (n - 1)  (the terms through m,
 * g 2 Σ_j (x_j - m) (-1/n) / (n - 1), sum to zero); m is recomputed in double. */
static void variance_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    size_t n = a->shape[a->ndim - 1], R = rows_of(a);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        const real *x = a->data + r * n;
        real *dx = a->grad + r * n;
        double m = row_mean(x, n), s = 2 * (double)e->out->grad[r] / (double)(n - 1);
        for (size_t i = 0; i < n; i++) dx[i] += (real)(s * ((double)x[i] - m));
    }
}

/* Rearranges s[lo..hi] so that s[k] holds the value a full sort would put there, with no
 * larger value before it and no smaller one after it (Hoare's selection, middle pivot). */
static void select_kth(double *s, ptrdiff_t lo, ptrdiff_t hi, ptrdiff_t k)
{
    while (lo < hi) {
        double pivot = s[lo + (hi - lo) / 2];
        ptrdiff_t i = lo, j = hi;
        while (i <= j) {
            while (s[i] < pivot) i++;
            while (s[j] > pivot) j--;
            if (i <= j) {
                double tmp = s[i];
                s[i++] = s[j];
                s[j--] = tmp;
            }
        }
        if (k <= j) hi = j;       /* s[lo..j] <= pivot <= s[i..hi], equal to it in between */
        else if (k >= i) lo = i;
        else return;
    }
}

/* Swaps the smallest (largest) of s[lo..hi] into s[lo] (s[hi]): selection of an end of the
 * range in one pass. */
static void select_end(double *s, size_t lo, size_t hi, int largest)
{
    size_t best = largest ? hi : lo;
    for (size_t i = lo; i <= hi; i++)
        if (largest ? s[i] > s[best] : s[i] < s[best]) best = i;
    size_t to = largest ? hi : lo;
    double tmp = s[to];
    s[to] = s[best];
    s[best] = tmp;
}

/* torch.lerp(a, b, w): a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w), which is exact at
 * both ends. */
static double lerp(double a, double b, double w) { return fabs(w) < 0.5 ? a + w * (b - a) : b - (b - a) * (1 - w); }

/* The first i with x[i] == v, where v is one of x's n values (a NaN: the first NaN). */
static size_t index_of(const real *x, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        if (v != v ? x[i] != x[i] : (double)x[i] == v) return i;
    return n - 1; /* not reached */
}

/* Only the order statistics needed are selected, in increasing order k (the levels ascend):
 * selecting k leaves in s[k+1..n-1] exactly the order statistics past k, so the next selection
 * searches only there, and one at the start of that range (or at the end of the row) is a
 * minimum (maximum) found in one pass. A k below `from` that a level needs was selected for
 * an earlier level, so s[k] is in place. */
void quantiles_of(double *s, size_t n, const double *q, size_t nq, double *y)
{
    size_t from = 0; /* s[from..n-1] hold the order statistics from..n-1, in some order */
    for (size_t j = 0; j < nq; j++) {
        double p = q[j] * (double)(n - 1);
        size_t lo = (size_t)floor(p), hi = (size_t)ceil(p);
        for (size_t k = lo; k <= hi; k++) {
            if (k < from) continue;
            if (k == from || k == n - 1) select_end(s, from, n - 1, k != from);
            else select_kth(s, (ptrdiff_t)from, (ptrdiff_t)n - 1, (ptrdiff_t)k);
            from = k + 1;
        }
        y[j] = lerp(s[lo], s[hi], p - (double)lo);
    }
}

/* Saved by op_quantile for its backward: per level the weight w, per row and level the
 * positions in the row of the two order statistics it interpolates. */
typedef struct QuantileSaved { double *w; size_t *index; } QuantileSaved;

/* Row by row, for level q_j: p = q_j (n - 1), s = the row sorted ascending,
 *   y_j = lerp(s[floor p], s[ceil p], p - floor p)   (quantiles_of);
 * a row that holds a NaN gives NaN. */
Tensor *op_quantile(Tape *t, Tensor *a, const double *q, size_t nq)
{
    size_t n = a->shape[a->ndim - 1], R = rows_of(a), shape[RR_MAXDIM];
    if (nq == 0 || n == 0) shape_error("quantile", a, NULL, "no levels, or no entries in the last dim of");
    for (size_t j = 0; j < nq; j++)
        if (!(q[j] >= 0 && q[j] <= 1 && (j == 0 || q[j] >= q[j - 1])))
            rr_fatal("quantile: level %zu is %g; the levels must ascend within [0, 1]", j, q[j]);
    Tensor *out = result(t, shape_with_last(a, nq, shape), shape, a, NULL);
    QuantileSaved *sv = NULL;
    if (out->grad) {
        sv = saved_alloc(t, sizeof *sv);
        sv->w = saved_alloc(t, nq * sizeof *sv->w);
        sv->index = saved_alloc(t, 2 * R * nq * sizeof *sv->index);
    }
    for (size_t j = 0; sv && j < nq; j++) sv->w[j] = q[j] * (double)(n - 1) - floor(q[j] * (double)(n - 1));
    OMP(parallel if (a->size >= PARALLEL_MIN))
    {
        double *s = rr_malloc(n * sizeof *s, "quantile scratch"), *yd = rr_malloc(nq * sizeof *yd, "quantiles");
        size_t r0, r1;
        share(R, &r0, &r1);
        for (size_t r = r0; r < r1; r++) {
            const real *x = a->data + r * n;
            real *y = out->data + r * nq;
            int nan = 0;
            for (size_t i = 0; i < n; i++) {
                s[i] = x[i];
                nan |= x[i] != x[i];
            }
            if (!nan) quantiles_of(s, n, q, nq, yd);
            for (size_t j = 0; j < nq; j++) {
                double p = q[j] * (double)(n - 1);
                size_t lo = (size_t)floor(p), hi = (size_t)ceil(p);
                y[j] = nan ? (real)NAN : (real)yd[j];
                if (sv) { /* quantiles_of left the order statistics lo and hi in place */
                    sv->index[2 * (r * nq + j)] = index_of(x, n, nan ? NAN : s[lo]);
                    sv->index[2 * (r * nq + j) + 1] = index_of(x, n, nan ? NAN : s[hi]);
                }
            }
        }
        free(s);
        free(yd);
    }
    if (out->grad) {
        TapeEntry *e = push(t, OP_QUANTILE, out, a, NULL);
        e->saved = sv;
        e->iarg[0] = nq;
    }
    return out;
}
/* y_j = lerp(s[floor p], s[ceil p], w):  d s[floor p] += (1 - w) g,  d s[ceil p] += w g, each
 * added to the entry of the row that sorts there (torch.lerp's backward, then the sort's);
 * when p is whole that is one entry, which gets g. Among tied entries the first in the row
 * takes the gradient (a valid subgradient; which one torch picks depends on its sort). */
static void quantile_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    const QuantileSaved *sv = e->saved;
    size_t n = a->shape[a->ndim - 1], R = rows_of(a), nq = e->iarg[0];
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++)
        for (size_t j = 0; j < nq; j++) {
            double g = e->out->grad[r * nq + j], w = sv->w[j];
            a->grad[r * n + sv->index[2 * (r * nq + j)]] += (real)((1 - w) * g);
            a->grad[r * n + sv->index[2 * (r * nq + j) + 1]] += (real)(w * g);
        }
}

/* ========================================================================================
 * Shape ops: concat, slice, permute, gather, copy
 * ====================================================================================== */

/* out = [parts[0] | parts[1] | ...] along axis; the backward hands each part its block. */
Tensor *op_concat(Tape *t, Tensor **parts, size_t n, int axis)
{
    if (n == 0) rr_fatal("concat: no tensors");
    axis = check_axis("concat", parts[0], axis);
    size_t shape[RR_MAXDIM], total = 0;
    int grad = 0;
    for (size_t p = 0; p < n; p++) {
        if (parts[p]->ndim != parts[0]->ndim) shape_error("concat", parts[0], parts[p], "ranks differ");
        for (int i = 0; i < parts[0]->ndim; i++)
            if (i != axis && parts[p]->shape[i] != parts[0]->shape[i])
                shape_error("concat", parts[0], parts[p], "shapes differ off the concat axis");
        total += parts[p]->shape[axis];
        grad |= parts[p]->grad != NULL;
    }
    for (int i = 0; i < parts[0]->ndim; i++) shape[i] = parts[0]->shape[i];
    shape[axis] = total;
    Tensor *out = result_grad(t, parts[0]->ndim, shape, grad);
    size_t outer, nn, inner, at = 0;
    split_at_axis(out, axis, &outer, &nn, &inner);
    for (size_t p = 0; p < n; p++) {
        size_t w = parts[p]->shape[axis] * inner;
        for (size_t o = 0; o < outer; o++)
            memcpy(out->data + o * total * inner + at, parts[p]->data + o * w, w * sizeof(real));
        at += w;
    }
    if (out->grad) {
        TapeEntry *e = push(t, OP_CONCAT, out, NULL, NULL);
        Tensor **saved = saved_alloc(t, n * sizeof *saved);
        memcpy(saved, parts, n * sizeof *saved);
        e->saved = saved;
        e->iarg[0] = (size_t)axis;
        e->iarg[1] = n;
    }
    return out;
}
static void concat_backward(TapeEntry *e)
{
    Tensor **parts = e->saved, *out = e->out;
    size_t outer, nn, inner, at = 0, total = out->shape[e->iarg[0]];
    split_at_axis(out, (int)e->iarg[0], &outer, &nn, &inner);
    for (size_t p = 0; p < e->iarg[1]; p++) {
        size_t w = parts[p]->shape[e->iarg[0]] * inner;
        if (parts[p]->grad)
            for (size_t o = 0; o < outer; o++)
                for (size_t i = 0; i < w; i++) parts[p]->grad[o * w + i] += out->grad[o * total * inner + at + i];
        at += w;
    }
}

/* out = a[.., start:start+len, ..] along axis; da[block] += g */
Tensor *op_slice(Tape *t, Tensor *a, int axis, size_t start, size_t len)
{
    axis = check_axis("slice", a, axis);
    if (start + len > a->shape[axis] || len == 0) shape_error("slice", a, NULL, "range outside axis of");
    size_t shape[RR_MAXDIM], outer, n, inner;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    shape[axis] = len;
    Tensor *out = result(t, a->ndim, shape, a, NULL);
    split_at_axis(a, axis, &outer, &n, &inner);
    for (size_t o = 0; o < outer; o++)
        memcpy(out->data + o * len * inner, a->data + (o * n + start) * inner, len * inner * sizeof(real));
    if (out->grad) {
        TapeEntry *e = push(t, OP_SLICE, out, a, NULL);
        e->iarg[0] = (size_t)axis;
        e->iarg[1] = start;
    }
    return out;
}
static void slice_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    size_t outer, n, inner, len = e->out->shape[e->iarg[0]];
    split_at_axis(a, (int)e->iarg[0], &outer, &n, &inner);
    for (size_t o = 0; o < outer; o++) {
        real *dst = a->grad + (o * n + e->iarg[1]) * inner;
        const real *g = e->out->grad + o * len * inner;
        for (size_t i = 0; i < len * inner; i++) dst[i] += g[i];
    }
}

/* For each index of `out`, the offset of the same element in `a` (out.shape[i] = a.shape[perm[i]]). */
static size_t permuted_offset(const Tensor *out, const size_t *a_stride, const int *perm, size_t i)
{
    size_t off = 0;
    for (int d = out->ndim - 1; d >= 0; d--) {
        off += (i % out->shape[d]) * a_stride[perm[d]];
        i /= out->shape[d];
    }
    return off;
}

static void strides_of(const Tensor *a, size_t *stride)
{
    size_t s = 1;
    for (int d = a->ndim - 1; d >= 0; d--) {
        stride[d] = s;
        s *= a->shape[d];
    }
}

Tensor *op_permute(Tape *t, Tensor *a, const int *perm)
{
    size_t shape[RR_MAXDIM], stride[RR_MAXDIM];
    int seen = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (perm[i] < 0 || perm[i] >= a->ndim || (seen >> perm[i]) & 1) shape_error("permute", a, NULL, "not a permutation of the dims of");
        seen |= 1 << perm[i];
        shape[i] = a->shape[perm[i]];
    }
    Tensor *out = result(t, a->ndim, shape, a, NULL);
    strides_of(a, stride);
    for (size_t i = 0; i < out->size; i++) out->data[i] = a->data[permuted_offset(out, stride, perm, i)];
    if (out->grad) {
        TapeEntry *e = push(t, OP_PERMUTE, out, a, NULL);
        for (int i = 0; i < a->ndim; i++) e->iarg[i] = (size_t)perm[i];
    }
    return out;
}
static void permute_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    int perm[RR_MAXDIM];
    size_t stride[RR_MAXDIM];
    for (int i = 0; i < a->ndim; i++) perm[i] = (int)e->iarg[i];
    strides_of(a, stride);
    for (size_t i = 0; i < e->out->size; i++) a->grad[permuted_offset(e->out, stride, perm, i)] += e->out->grad[i];
}

/* out[r] = a[idx[r]] over the first dim; da[idx[r]] += g[r] */
Tensor *op_gather_rows(Tape *t, Tensor *a, const size_t *idx, size_t n)
{
    size_t shape[RR_MAXDIM], w = a->size / a->shape[0];
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    shape[0] = n;
    Tensor *out = result(t, a->ndim, shape, a, NULL);
    for (size_t r = 0; r < n; r++) {
        if (idx[r] >= a->shape[0]) shape_error("gather_rows", a, NULL, "index past the first dim of");
        memcpy(out->data + r * w, a->data + idx[r] * w, w * sizeof(real));
    }
    if (out->grad) {
        TapeEntry *e = push(t, OP_GATHER_ROWS, out, a, NULL);
        size_t *saved = saved_alloc(t, n * sizeof *saved);
        memcpy(saved, idx, n * sizeof *saved);
        e->saved = saved;
    }
    return out;
}
static void gather_rows_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    const size_t *idx = e->saved;
    size_t w = a->size / a->shape[0];
    for (size_t r = 0; r < e->out->shape[0]; r++)
        for (size_t i = 0; i < w; i++) a->grad[idx[r] * w + i] += e->out->grad[r * w + i];
}

/* out = a; da += g */
Tensor *op_copy(Tape *t, Tensor *a)
{
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    memcpy(out->data, a->data, a->size * sizeof(real));
    if (out->grad) push(t, OP_COPY, out, a, NULL);
    return out;
}
static void copy_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (a->grad) add_into(a->grad, e->out->grad, a->size);
}

/* ========================================================================================
 * Normalisations and softmax, all over the last dim (rows of width D)
 * ====================================================================================== */

/* y = a / max(|a|, 1e-12), as torch.nn.functional.normalize. Saved: the norm of each row. */
Tensor *op_l2_normalize(Tape *t, Tensor *a)
{
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    real *norms = saved_alloc(t, R * sizeof *norms);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        double ss = 0;
        for (size_t j = 0; j < D; j++) ss += (double)a->data[r * D + j] * a->data[r * D + j];
        double nrm = sqrt(ss) > 1e-12 ? sqrt(ss) : 1e-12;
        norms[r] = (real)nrm;
        for (size_t j = 0; j < D; j++) out->data[r * D + j] = (real)(a->data[r * D + j] / nrm);
    }
    if (out->grad) push(t, OP_L2_NORMALIZE, out, a, NULL)->saved = norms;
    return out;
}
/* With n = |a| > eps: da += (g - y (y . g)) / n; where clamped at eps: da += g / eps. */
static void l2_normalize_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    const real *norms = e->saved, *y = e->out->data, *g = e->out->grad;
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        double dot = 0, ss = 0;
        for (size_t j = 0; j < D; j++) {
            dot += (double)y[r * D + j] * g[r * D + j];
            ss += (double)a->data[r * D + j] * a->data[r * D + j];
        }
        int clamped = !(sqrt(ss) > 1e-12);
        for (size_t j = 0; j < D; j++)
            a->grad[r * D + j] += (real)((g[r * D + j] - (clamped ? 0 : y[r * D + j] * dot)) / norms[r]);
    }
}

/* y = (a - mu) * rstd * gamma + beta, rstd = 1 / sqrt(var + eps), var biased (as torch).
 * Saved per row: mu and rstd. */
Tensor *op_layer_norm(Tape *t, Tensor *a, Tensor *gamma, Tensor *beta, real eps)
{
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    if ((gamma && gamma->size != D) || (beta && beta->size != D)) shape_error("layer_norm", a, gamma ? gamma : beta, "affine size differs from the last dim");
    Tensor *out = result_grad(t, a->ndim, a->shape, a->grad || (gamma && gamma->grad) || (beta && beta->grad));
    real *stats = saved_alloc(t, 2 * R * sizeof *stats);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        const real *x = a->data + r * D;
        double mu = 0, var = 0;
        for (size_t j = 0; j < D; j++) mu += x[j];
        mu /= (double)D;
        for (size_t j = 0; j < D; j++) var += (x[j] - mu) * (x[j] - mu);
        var /= (double)D;
        double rstd = 1.0 / sqrt(var + eps);
        stats[2 * r] = (real)mu;
        stats[2 * r + 1] = (real)rstd;
        for (size_t j = 0; j < D; j++) {
            double v = (x[j] - mu) * rstd;
            out->data[r * D + j] = (real)(v * (gamma ? gamma->data[j] : 1) + (beta ? beta->data[j] : 0));
        }
    }
    if (out->grad) {
        TapeEntry *e = push(t, OP_LAYER_NORM, out, a, gamma);
        e->in[2] = beta;
        e->saved = stats;
    }
    return out;
}
/* xhat = (x - mu) rstd;  dgamma += sum_rows g xhat;  dbeta += sum_rows g;
 * dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dxhat = g gamma.
 * dx row by row, then dgamma and dbeta column by column (each summed in row order). */
static void layer_norm_backward(TapeEntry *e)
{
    Tensor *a = e->in[0], *gamma = e->in[1], *beta = e->in[2];
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    const real *stats = e->saved, *g = e->out->grad;
    if (a->grad) {
        OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
        for (size_t r = 0; r < R; r++) {
            const real *x = a->data + r * D, *gr = g + r * D;
            double mu = stats[2 * r], rstd = stats[2 * r + 1], m1 = 0, m2 = 0;
            for (size_t j = 0; j < D; j++) {
                double xhat = (x[j] - mu) * rstd, dxhat = gr[j] * (gamma ? gamma->data[j] : 1);
                m1 += dxhat;
                m2 += dxhat * xhat;
            }
            m1 /= (double)D;
            m2 /= (double)D;
            for (size_t j = 0; j < D; j++) {
                double xhat = (x[j] - mu) * rstd, dxhat = gr[j] * (gamma ? gamma->data[j] : 1);
                a->grad[r * D + j] += (real)(rstd * (dxhat - m1 - xhat * m2));
            }
        }
    }
    int dg = gamma && gamma->grad, db = beta && beta->grad;
    if (!dg && !db) return;
    enum { BLOCK = 64 };
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t j0 = 0; j0 < D; j0 += BLOCK) {
        size_t w = min_size(BLOCK, D - j0);
        double dgamma[BLOCK] = {0}, dbeta[BLOCK] = {0};
        for (size_t r = 0; r < R; r++) {
            const real *x = a->data + r * D + j0, *gr = g + r * D + j0;
            double mu = stats[2 * r], rstd = stats[2 * r + 1];
            for (size_t j = 0; j < w; j++) {
                dgamma[j] += gr[j] * ((x[j] - mu) * rstd);
                dbeta[j] += gr[j];
            }
        }
        for (size_t j = 0; j < w; j++) {
            if (dg) gamma->grad[j0 + j] += (real)dgamma[j];
            if (db) beta->grad[j0 + j] += (real)dbeta[j];
        }
    }
}

/* Row-wise log-sum-exp with the maximum subtracted first. The exps of 256 terms at a time
 * (a loop the compiler vectorises), then their sum in order. */
static double row_logsumexp(const real *x, size_t D)
{
    real mx = x[0];
    for (size_t j = 1; j < D; j++) mx = x[j] > mx ? x[j] : mx;
    double s = 0, e[256];
    for (size_t j0 = 0; j0 < D; j0 += 256) {
        size_t n = min_size(256, D - j0);
        for (size_t k = 0; k < n; k++) e[k] = EXP_D((double)x[j0 + k] - mx);
        for (size_t k = 0; k < n; k++) s += e[k];
    }
    return mx + log(s);
}

/* y = exp(a - lse(a)) */
Tensor *op_softmax(Tape *t, Tensor *a)
{
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        double lse = row_logsumexp(a->data + r * D, D);
        for (size_t j = 0; j < D; j++) out->data[r * D + j] = (real)EXP_D(a->data[r * D + j] - lse);
    }
    if (out->grad) push(t, OP_SOFTMAX, out, a, NULL);
    return out;
}
/* da += y (g - sum_j g_j y_j) */
static void softmax_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    const real *y = e->out->data, *g = e->out->grad;
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        double dot = 0;
        for (size_t j = 0; j < D; j++) dot += (double)g[r * D + j] * y[r * D + j];
        for (size_t j = 0; j < D; j++) a->grad[r * D + j] += (real)(y[r * D + j] * (g[r * D + j] - dot));
    }
}

/* y = a - lse(a) */
Tensor *op_log_softmax(Tape *t, Tensor *a)
{
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        double lse = row_logsumexp(a->data + r * D, D);
        for (size_t j = 0; j < D; j++) out->data[r * D + j] = (real)(a->data[r * D + j] - lse);
    }
    if (out->grad) push(t, OP_LOG_SOFTMAX, out, a, NULL);
    return out;
}
/* da += g - exp(y) sum_j g_j */
static void log_softmax_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    if (!a->grad) return;
    size_t D = a->shape[a->ndim - 1], R = rows_of(a);
    const real *y = e->out->data, *g = e->out->grad;
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        double sum = 0;
        for (size_t j = 0; j < D; j++) sum += g[r * D + j];
        for (size_t j = 0; j < D; j++) a->grad[r * D + j] += (real)(g[r * D + j] - exp((double)y[r * D + j]) * sum);
    }
}

/* Inverted dropout: y = a * mask / (1 - p), mask ~ Bernoulli(1 - p), drawn from t->rng. */
Tensor *op_dropout(Tape *t, Tensor *a, real p)
{
    if (!t->training || p <= 0) return a;
    if (!t->rng) rr_fatal("dropout: the tape is training but has no rng");
    Tensor *out = result(t, a->ndim, a->shape, a, NULL);
    real *mask = saved_alloc(t, a->size * sizeof *mask), keep = 1 / (1 - p);
    for (size_t i = 0; i < a->size; i++) {
        mask[i] = rng_uniform(t->rng) >= p ? keep : 0;
        out->data[i] = a->data[i] * mask[i];
    }
    if (out->grad) push(t, OP_DROPOUT, out, a, NULL)->saved = mask;
    return out;
}
/* da += g * mask / (1 - p) */
static void dropout_backward(TapeEntry *e)
{
    Tensor *a = e->in[0];
    const real *mask = e->saved;
    if (a->grad) for (size_t i = 0; i < a->size; i++) a->grad[i] += e->out->grad[i] * mask[i];
}

/* ========================================================================================
 * Multi-head attention, fused: out[b, :, h] = dropout(softmax(q_h k_h^T)) v_h for each head h
 * (columns h dh .. (h+1) dh - 1 of q, k = kv[.., :D] and v = kv[.., D:]). The (Tq, T)
 * weights of one (sample, head) pair live only in a thread's scratch, in the forward and
 * again in the backward, which recomputes them from each row's saved log-sum-exp: the tape
 * keeps q, kv, B heads Tq log-sum-exps and the dropout mask (one bit per weight), not the
 * B heads Tq T weights. Every product, the softmax and the dropout are the ones the
 * composition op_slice / op_matmul / op_softmax / op_dropout / op_matmul / op_concat runs, on
 * the same operands in the same order, so the results are the same bits as that
 * composition's (and its gradients too, into gradients that start at zero), with the dropout
 * mask drawn in its order: head by head, each over (B, Tq, T).
 * ====================================================================================== */

typedef struct Attention {
    size_t B, Tq, T, D, heads, dh;
    const real *q, *kv;
    const uint8_t *mask;   /* the dropout's bits, or NULL */
    real keep;             /* 1 / (1 - p) */
} Attention;

typedef struct AttentionSaved {
    double *lse;     /* (B heads, Tq): each row's log-sum-exp, pair (b, h) at b heads + h */
    uint8_t *mask;
} AttentionSaved;

static int mask_bit(const uint8_t *mask, size_t bit) { return mask[bit >> 3] >> (bit & 7) & 1; }

/* Offsets of pair (b, h)'s first q row and first k row (its v row is D further). */
static size_t attention_q(const Attention *a, size_t b, size_t h) { return b * a->Tq * a->D + h * a->dh; }
static size_t attention_k(const Attention *a, size_t b, size_t h) { return b * a->T * 2 * a->D + h * a->dh; }

/* The weights of pair (b, h) into P (Tq, T): softmax(q_h k_h^T), each row's log-sum-exp
 * computed into lse (Tq) when `fresh`, else taken from it; then, with a mask, the dropped-out
 * weights into Pd (else Pd is P). */
static void attention_weights(const Attention *a, size_t b, size_t h, double *lse, int fresh, real *P, real *Pd)
{
    size_t Tq = a->Tq, T = a->T;
    memset(P, 0, Tq * T * sizeof(real));
    gemm_fast(Tq, T, a->dh, a->q + attention_q(a, b, h), a->D, 0, a->kv + attention_k(a, b, h), 2 * a->D, 1, P, T);
    for (size_t r = 0; r < Tq; r++) {
        real *row = P + r * T;
        if (fresh) lse[r] = row_logsumexp(row, T);
        for (size_t j = 0; j < T; j++) row[j] = (real)EXP_D(row[j] - lse[r]);
    }
    if (!a->mask) return;
    size_t bit = (h * a->B + b) * Tq * T;
    for (size_t i = 0; i < Tq * T; i++) Pd[i] = P[i] * (mask_bit(a->mask, bit + i) ? a->keep : 0);
}

Tensor *op_attention(Tape *t, Tensor *q, Tensor *kv, size_t heads, real p)
{
    if (q->ndim != 3 || kv->ndim != 3 || kv->shape[0] != q->shape[0] || kv->shape[2] != 2 * q->shape[2])
        shape_error("attention", q, kv, "needs q (B, Tq, D) and kv (B, T, 2D)");
    if (heads == 0 || q->shape[2] % heads) shape_error("attention", q, NULL, "the heads do not divide D");
    Attention a = {q->shape[0], q->shape[1], kv->shape[1], q->shape[2], heads, q->shape[2] / heads, q->data, kv->data, NULL, 1};
    int with_grad = t->record && (q->grad || kv->grad);
    Tensor *out = result(t, 3, q->shape, q, kv);
    memset(out->data, 0, out->size * sizeof(real));
    uint8_t *mask = NULL; /* drawn serially, in the composition's order */
    if (t->training && p > 0) {
        if (!t->rng) rr_fatal("attention: the tape is training but has no rng");
        size_t bits = a.heads * a.B * a.Tq * a.T;
        mask = arena_alloc(&t->arena, (bits + 7) / 8);
        for (size_t i = 0; i < bits; i++)
            if (rng_uniform(t->rng) >= p) mask[i >> 3] |= (uint8_t)(1u << (i & 7));
        a.mask = mask;
        a.keep = 1 / (1 - p);
    }
    size_t pairs = a.B * a.heads, block = a.Tq * a.T;
    double *lse = with_grad ? arena_alloc_raw(&t->arena, pairs * a.Tq * sizeof(double)) : NULL;
    OMP(parallel if (pairs > 1 && pairs * block * a.dh >= GEMM_PARALLEL_MIN))
    {
        real *P = rr_malloc(block * sizeof(real), "attention weights");
        real *Pd = mask ? rr_malloc(block * sizeof(real), "attention weights") : P;
        double *own = lse ? NULL : rr_malloc(a.Tq * sizeof(double), "attention rows");
        OMP(for schedule(static))
        for (size_t pair = 0; pair < pairs; pair++) {
            size_t b = pair / a.heads, h = pair % a.heads;
            attention_weights(&a, b, h, lse ? lse + pair * a.Tq : own, 1, P, Pd);
            gemm_fast(a.Tq, a.dh, a.T, Pd, a.T, 0, a.kv + attention_k(&a, b, h) + a.D, 2 * a.D, 0,
                      out->data + attention_q(&a, b, h), a.D);
        }
        free(own);
        if (Pd != P) free(Pd);
        free(P);
    }
    if (with_grad) {
        TapeEntry *e = push(t, OP_ATTENTION, out, q, kv);
        e->iarg[0] = heads;
        e->rarg[0] = a.keep;
        AttentionSaved *sv = saved_alloc(t, sizeof *sv);
        sv->lse = lse;
        sv->mask = mask;
        e->saved = sv;
    }
    return out;
}

/* Per pair, with P and Pd recomputed:
 *   dv_h += Pd^T dout_h;   dPd = dout_h v_h^T;   dP = dPd * mask;
 *   dS = P (dP - sum_j dP_j P_j) (the softmax's backward);   dq_h += dS k_h;   dk_h += dS^T q_h */
static void attention_backward(TapeEntry *e)
{
    Tensor *q = e->in[0], *kv = e->in[1];
    const AttentionSaved *sv = e->saved;
    Attention a = {q->shape[0], q->shape[1], kv->shape[1], q->shape[2], e->iarg[0], q->shape[2] / e->iarg[0],
                   q->data, kv->data, sv->mask, e->rarg[0]};
    const real *g = e->out->grad;
    size_t pairs = a.B * a.heads, block = a.Tq * a.T, D = a.D, dh = a.dh;
    OMP(parallel if (pairs > 1 && pairs * block * dh >= GEMM_PARALLEL_MIN))
    {
        real *P = rr_malloc(block * sizeof(real), "attention weights");
        real *Pd = a.mask ? rr_malloc(block * sizeof(real), "attention weights") : P;
        real *dS = rr_malloc(block * sizeof(real), "attention gradients");
        OMP(for schedule(static))
        for (size_t pair = 0; pair < pairs; pair++) {
            size_t b = pair / a.heads, h = pair % a.heads, Tq = a.Tq, T = a.T;
            size_t qo = attention_q(&a, b, h), ko = attention_k(&a, b, h), vo = ko + D;
            attention_weights(&a, b, h, sv->lse + pair * Tq, 0, P, Pd);
            if (kv->grad) gemm_fast(T, dh, Tq, Pd, T, 1, g + qo, D, 0, kv->grad + vo, 2 * D);
            memset(dS, 0, block * sizeof(real));
            gemm_fast(Tq, T, dh, g + qo, D, 0, kv->data + vo, 2 * D, 1, dS, T); /* dPd */
            size_t bit = (h * a.B + b) * block;
            for (size_t r = 0; r < Tq; r++) {
                real *d = dS + r * T;
                const real *y = P + r * T;
                if (a.mask)
                    for (size_t j = 0; j < T; j++) d[j] = d[j] * (mask_bit(a.mask, bit + r * T + j) ? a.keep : 0);
                double dot = 0;
                for (size_t j = 0; j < T; j++) dot += (double)d[j] * y[j];
                for (size_t j = 0; j < T; j++) d[j] = (real)(y[j] * (d[j] - dot));
            }
            if (q->grad) gemm_fast(Tq, dh, T, dS, T, 0, kv->data + ko, 2 * D, 0, q->grad + qo, D);
            if (kv->grad) gemm_fast(T, dh, Tq, dS, T, 1, q->data + qo, D, 0, kv->grad + ko, 2 * D);
        }
        free(dS);
        if (Pd != P) free(Pd);
        free(P);
    }
}

/* ========================================================================================
 * Checkpoint: a sub-computation recomputed in the backward pass instead of kept.
 * ====================================================================================== */

typedef struct CheckpointSaved {
    CheckpointFn fn;
    void *ctx;           /* a copy, in the tape's arena */
    Tape *inner;         /* the scratch tape both passes run fn on */
    Rng rng;             /* t->rng's state before the forward (has_rng) */
    int has_rng, training;
    double forward, backward; /* fn's flops (tape_flops) */
} CheckpointSaved;

/* fn on the scratch tape, recording or not, its inputs leaves that share in[]'s values and
 * carry gradients of their own (an input given twice is one leaf). */
static Tensor *checkpoint_run(Tape *inner, const CheckpointSaved *sv, Rng *rng, Tensor *const *in, size_t nin,
                              Tensor **leaf, int record)
{
    tape_reset(inner);
    inner->record = record;
    inner->training = sv->training;
    inner->rng = rng;
    for (size_t i = 0; i < nin; i++) {
        leaf[i] = NULL;
        for (size_t j = 0; j < i; j++)
            if (in[j] == in[i]) leaf[i] = leaf[j];
        if (leaf[i]) continue;
        leaf[i] = arena_alloc(&inner->arena, sizeof *leaf[i]);
        *leaf[i] = *in[i];
        leaf[i]->grad = record && in[i]->grad ? arena_alloc(&inner->arena, in[i]->size * sizeof(real)) : NULL;
    }
    return sv->fn(inner, sv->ctx, leaf);
}

Tensor *op_checkpoint(Tape *t, CheckpointFn fn, const void *ctx, size_t ctx_bytes, Tensor *const *in, size_t nin)
{
    if (nin > RR_CHECKPOINT_INPUTS) rr_fatal("checkpoint: %zu inputs (at most %d)", nin, RR_CHECKPOINT_INPUTS);
    if (!t->record) return fn(t, ctx, in);
    if (!t->inner) {
        t->inner = rr_malloc(sizeof *t->inner, "checkpoint tape");
        tape_init(t->inner);
    }
    CheckpointSaved *sv = saved_alloc(t, sizeof *sv);
    sv->fn = fn;
    sv->ctx = saved_alloc(t, ctx_bytes ? ctx_bytes : 1);
    memcpy(sv->ctx, ctx, ctx_bytes);
    sv->inner = t->inner;
    sv->has_rng = t->rng != NULL;
    if (t->rng) sv->rng = *t->rng;
    sv->training = t->training;
    sv->forward = sv->backward = 0; /* counted when the backward records fn */
    Tensor *leaf[RR_CHECKPOINT_INPUTS];
    Tensor *o = checkpoint_run(t->inner, sv, t->rng, in, nin, leaf, 0);
    Tensor *out = result_grad(t, o->ndim, o->shape, 1); /* (fn's parameters may want one) */
    memcpy(out->data, o->data, o->size * sizeof(real));
    TapeEntry *e = push(t, OP_CHECKPOINT, out, NULL, NULL);
    for (size_t i = 0; i < nin; i++) e->in[i] = in[i];
    e->iarg[0] = nin;
    e->saved = sv;
    return out;
}

static void checkpoint_backward(TapeEntry *e)
{
    CheckpointSaved *sv = e->saved;
    size_t nin = e->iarg[0];
    Rng rng = sv->rng;
    Tensor *leaf[RR_CHECKPOINT_INPUTS];
    Tensor *o = checkpoint_run(sv->inner, sv, sv->has_rng ? &rng : NULL, e->in, nin, leaf, 1);
    tape_flops(sv->inner, &sv->forward, &sv->backward);
    if (!o->grad) return; /* nothing in fn carries a gradient */
    for (size_t i = 0; i < o->size; i++) o->grad[i] += e->out->grad[i];
    for (size_t k = sv->inner->count; k > 0; k--) backward_of[sv->inner->entries[k - 1].op](&sv->inner->entries[k - 1]);
    for (size_t i = 0; i < nin; i++) {
        int first = 1;
        for (size_t j = 0; j < i; j++) first &= e->in[j] != e->in[i];
        if (!first || !e->in[i]->grad) continue;
        real *g = e->in[i]->grad;
        const real *lg = leaf[i]->grad;
        OMP(parallel for schedule(static) if (e->in[i]->size >= PARALLEL_MIN))
        for (size_t k = 0; k < e->in[i]->size; k++) g[k] += lg[k];
    }
}

/* ========================================================================================
 * Fused LSTM cell (gate order i, f, g, o as PyTorch), and the recurrence of a whole layer.
 * Saved per row: the activated gates i, f, g, o and tanh(c'), 5H values.
 * ====================================================================================== */

enum { CELL_PARALLEL_MIN = 1 << 11 }; /* cells (five exp each) a loop needs to use the threads */

/* One row: pre-activations z (4H) and c (H) -> h', c' (H); s (5H) saved for the backward. */
static void cell_forward_row(size_t H, const real *restrict z, const real *restrict cp, real *restrict h,
                             real *restrict cn, real *restrict s)
{
    for (size_t j = 0; j < H; j++) {
        real ig = sigmoid(z[j]), fg = sigmoid(z[H + j]), gg = tanh_r(z[2 * H + j]), og = sigmoid(z[3 * H + j]);
        real c = fg * cp[j] + ig * gg;                /* c' = sigmoid(f) c + sigmoid(i) tanh(g) */
        real tc = tanh_r(c);
        cn[j] = c;
        h[j] = og * tc;                                /* h' = sigmoid(o) tanh(c') */
        s[j] = ig; s[H + j] = fg; s[2 * H + j] = gg; s[3 * H + j] = og; s[4 * H + j] = tc;
    }
}

/* Its backward, with dh, dc' the incoming gradients:  dc = dc' + dh o (1 - tanh(c')^2);
 *   do = dh tanh(c');  di = dc g;  dg = dc i;  df = dc c;  dc_prev = dc f;
 * then through the activations: sigmoid' = s (1 - s), tanh' = 1 - g^2.
 * dz (4H) and dcp (H) are added into; either may be NULL. */
static void cell_backward_row(size_t H, const real *restrict s, const real *restrict cp, const real *restrict dh,
                              const real *restrict dcn, real *restrict dz, real *restrict dcp)
{
#define CELL_DC(j) (dcn[j] + dh[j] * s[3 * H + (j)] * (1 - s[4 * H + (j)] * s[4 * H + (j)]))
    if (dz) /* (two loops without branches, which the compiler vectorises) */
        for (size_t j = 0; j < H; j++) {
            real ig = s[j], fg = s[H + j], gg = s[2 * H + j], og = s[3 * H + j], tc = s[4 * H + j], dc = CELL_DC(j);
            dz[j] += dc * gg * ig * (1 - ig);
            dz[H + j] += dc * cp[j] * fg * (1 - fg);
            dz[2 * H + j] += dc * ig * (1 - gg * gg);
            dz[3 * H + j] += dh[j] * tc * og * (1 - og);
        }
    if (dcp)
        for (size_t j = 0; j < H; j++) dcp[j] += CELL_DC(j) * s[H + j];
#undef CELL_DC
}

void op_lstm_cell(Tape *t, Tensor *gates, Tensor *c, Tensor **h_out, Tensor **c_out)
{
    size_t H = c->shape[c->ndim - 1], B = rows_of(c);
    if (gates->shape[gates->ndim - 1] != 4 * H || rows_of(gates) != B) shape_error("lstm_cell", gates, c, "want gates (B, 4H) and c (B, H)");
    int grad = t->record && (gates->grad || c->grad);
    Tensor *h = result_grad(t, c->ndim, c->shape, grad), *cn = result_grad(t, c->ndim, c->shape, grad);
    real *act = arena_alloc_raw(&t->arena, 5 * H * B * sizeof *act);
    OMP(parallel for schedule(static) if (B * H >= CELL_PARALLEL_MIN))
    for (size_t b = 0; b < B; b++)
        cell_forward_row(H, gates->data + b * 4 * H, c->data + b * H, h->data + b * H, cn->data + b * H, act + b * 5 * H);
    if (grad) {
        TapeEntry *e = push(t, OP_LSTM_CELL, h, gates, c);
        e->out2 = cn;
        e->saved = act;
    }
    *h_out = h;
    *c_out = cn;
}

static void lstm_cell_backward(TapeEntry *e)
{
    Tensor *gates = e->in[0], *c = e->in[1], *h = e->out, *cn = e->out2;
    size_t H = c->shape[c->ndim - 1], B = rows_of(c);
    OMP(parallel for schedule(static) if (B * H >= CELL_PARALLEL_MIN))
    for (size_t b = 0; b < B; b++)
        cell_backward_row(H, (const real *)e->saved + b * 5 * H, c->data + b * H, h->grad + b * H, cn->grad + b * H,
                          gates->grad ? gates->grad + b * 4 * H : NULL, c->grad ? c->grad + b * H : NULL);
}

/* The recurrence of one LSTM layer from zero state, xg (B, T, G) = x W_ih^T + b_ih given:
 *   gates_t = xg_t + (h_{t-1} W_hh^T + b_hh),  (h_t, c_t) = cell(gates_t, c_{t-1})  -> h (B, T, H).
 * Saved: the cells' 5H values and c_t at every step. As one op, W_hh is packed once for all
 * T steps (forward and backward); the B sequences are independent, so each thread runs its
 * share of them through all T steps (its rows of each step's product, then their cells)
 * without waiting for the others; the backward forms d W_hh = sum_t dgates_t^T h_{t-1} as a
 * single matrix product over all B T rows. */
typedef struct SequenceSaved { real *act, *c; } SequenceSaved;

Tensor *op_lstm_sequence(Tape *t, Tensor *xg, Tensor *W_hh, Tensor *b_hh)
{
    size_t H = W_hh->shape[1], G = 4 * H;
    if (xg->ndim != 3 || xg->shape[2] != G || W_hh->ndim != 2 || W_hh->shape[0] != G || b_hh->size != G)
        shape_error("lstm_sequence", xg, W_hh, "want xg (B, T, 4H), W_hh (4H, H) and b_hh (4H)");
    size_t B = xg->shape[0], T = xg->shape[1];
    Tensor *h = result_grad(t, 3, (size_t[]){B, T, H}, xg->grad || W_hh->grad || b_hh->grad);
    SequenceSaved *sv = saved_alloc(t, sizeof *sv);
    sv->act = arena_alloc_raw(&t->arena, B * T * 5 * H * sizeof(real));
    sv->c = arena_alloc_raw(&t->arena, B * T * H * sizeof(real));
    real *gates = rr_malloc(B * G * sizeof(real), "lstm gates"), *zero = rr_calloc(H, sizeof(real), "lstm state");
    GemmPacked Wt;
    gemm_pack(&Wt, H, G, W_hh->data, H, 1);                            /* W_hh^T (H, G) */
    for (size_t b = 0; b < B; b++) memcpy(gates + b * G, b_hh->data, G * sizeof(real));
    OMP(parallel num_threads(team_for(B * H >= CELL_PARALLEL_MIN, Wt.threads)))
    {
        size_t b0, b1;                 /* this thread's sequences, from the first step to the last */
        share(B, &b0, &b1);
        real *Ap = a_block(&Wt, (size_t)thread_index());
        for (size_t s = 0; s < T && b0 < b1; s++) {
            if (s > 0) gemm_part(b0, b1, 0, G, h->data + (s - 1) * H, T * H, 0, &Wt, gates, G, Ap); /* rows h[b, s-1] */
            for (size_t b = b0; b < b1; b++) {
                real *z = gates + b * G;
                const real *x = xg->data + (b * T + s) * G;
                for (size_t k = 0; k < G; k++) z[k] = x[k] + z[k];
                size_t r = b * T + s; /* row (b, s) */
                cell_forward_row(H, z, s ? sv->c + (r - 1) * H : zero, h->data + r * H, sv->c + r * H, sv->act + r * 5 * H);
                memcpy(z, b_hh->data, G * sizeof(real)); /* the next step's gates begin at b_hh */
            }
        }
    }
    gemm_pack_free(&Wt);
    free(gates);
    free(zero);
    if (h->grad) {
        TapeEntry *e = push(t, OP_LSTM_SEQUENCE, h, xg, W_hh);
        e->in[2] = b_hh;
        e->saved = sv;
    }
    return h;
}

/* Backward through time: at step t, dh_t = dH_t + dh from step t + 1 and dc from step t + 1
 * enter the cell, giving dgates_t (kept for all t) and dc_{t-1}; dh_{t-1} = dgates_t W_hh.
 * Then dxg += dgates;  dW_hh += dgates^T h_prev (h_prev_t = h_{t-1}, 0 at t = 0);
 * db_hh += sum over rows of dgates. */
static void lstm_sequence_backward(TapeEntry *e)
{
    Tensor *h = e->out, *xg = e->in[0], *W_hh = e->in[1], *b_hh = e->in[2];
    const SequenceSaved *sv = e->saved;
    size_t B = xg->shape[0], T = xg->shape[1], H = W_hh->shape[1], G = 4 * H;
    real *dgates = rr_calloc(B * T * G, sizeof(real), "lstm backward");
    real *dh = rr_calloc(B * H, sizeof(real), "lstm backward"), *dc = rr_calloc(B * H, sizeof(real), "lstm backward");
    real *dc_prev = rr_malloc(B * H * sizeof(real), "lstm backward"), *zero = rr_calloc(H, sizeof(real), "lstm backward");
    GemmPacked W;
    gemm_pack(&W, G, H, W_hh->data, H, 0);                             /* W_hh (G, H) */
    OMP(parallel num_threads(team_for(B * H >= CELL_PARALLEL_MIN, W.threads)))
    {
        size_t b0, b1;                 /* this thread's sequences, from the last step to the first */
        share(B, &b0, &b1);
        real *Ap = a_block(&W, (size_t)thread_index());
        for (size_t s = T; s-- > 0 && b0 < b1;) {
            for (size_t b = b0; b < b1; b++) {
                size_t r = b * T + s;
                real *dhb = dh + b * H, *dcb = dc + b * H, *dcp = dc_prev + b * H;
                for (size_t j = 0; j < H; j++) dhb[j] += h->grad[r * H + j];
                memset(dcp, 0, H * sizeof(real));
                cell_backward_row(H, sv->act + r * 5 * H, s ? sv->c + (r - 1) * H : zero, dhb, dcb, dgates + r * G, dcp);
                memcpy(dcb, dcp, H * sizeof(real));
                memset(dhb, 0, H * sizeof(real));
            }
            if (s > 0) gemm_part(b0, b1, 0, H, dgates + s * G, T * G, 0, &W, dh, H, Ap); /* rows dgates[b, s] */
        }
    }
    gemm_pack_free(&W);
    if (xg->grad) add_into(xg->grad, dgates, B * T * G);
    if (W_hh->grad) {
        real *h_prev = rr_calloc(B * T * H, sizeof(real), "lstm backward");
        for (size_t b = 0; b < B; b++) memcpy(h_prev + (b * T + 1) * H, h->data + b * T * H, (T - 1) * H * sizeof(real));
        gemm_fast(G, H, B * T, dgates, G, 1, h_prev, H, 0, W_hh->grad, H);
        free(h_prev);
    }
    if (b_hh->grad) add_column_sums(b_hh->grad, dgates, B * T, G);
    free(dgates);
    free(dh);
    free(dc);
    free(dc_prev);
    free(zero);
}

/* ========================================================================================
 * Losses: scalars, means over rows (all dims but the last) unless stated
 * ====================================================================================== */

/* l = mean_r -log softmax(z_r)[y_r]. Saved: softmax(z) and the labels. dz += g/R (p - onehot). */
typedef struct CrossEntropySaved { real *p; int32_t *labels; } CrossEntropySaved;

Tensor *op_cross_entropy(Tape *t, Tensor *logits, const int32_t *labels)
{
    size_t K = logits->shape[logits->ndim - 1], R = rows_of(logits);
    Tensor *out = result(t, 1, (size_t[]){1}, logits, NULL);
    CrossEntropySaved *sv = saved_alloc(t, sizeof *sv);
    real *p = sv->p = saved_alloc(t, R * K * sizeof *p);
    int32_t *y = sv->labels = saved_alloc(t, R * sizeof *y);
    double *row_loss = rr_malloc((R ? R : 1) * sizeof *row_loss, "cross-entropy rows"), total;
    for (size_t r = 0; r < R; r++) {
        if (labels[r] < 0 || (size_t)labels[r] >= K) rr_fatal("cross_entropy: label %d outside 0..%zu", (int)labels[r], K - 1);
        y[r] = labels[r];
    }
    OMP(parallel for schedule(static) if (logits->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++) {
        const real *z = logits->data + r * K;
        double lse = row_logsumexp(z, K);
        row_loss[r] = lse - z[y[r]];
        for (size_t k = 0; k < K; k++) p[r * K + k] = (real)EXP_D(z[k] - lse);
    }
    CHUNKED_SUM(total, R, r, row_loss[r]);
    free(row_loss);
    out->data[0] = (real)(total / (double)R);
    if (out->grad) push(t, OP_CROSS_ENTROPY, out, logits, NULL)->saved = sv;
    return out;
}
static void cross_entropy_backward(TapeEntry *e)
{
    Tensor *z = e->in[0];
    if (!z->grad) return;
    size_t K = z->shape[z->ndim - 1], R = rows_of(z);
    const CrossEntropySaved *sv = e->saved;
    const real *p = sv->p;
    const int32_t *y = sv->labels;
    real g = e->out->grad[0] / (real)R;
    OMP(parallel for schedule(static) if (z->size >= PARALLEL_MIN))
    for (size_t r = 0; r < R; r++)
        for (size_t k = 0; k < K; k++) z->grad[r * K + k] += g * (p[r * K + k] - ((int32_t)k == y[r]));
}

/* l = mean_i max(z,0) - z y + log(1 + exp(-|z|));  dz += g/N (sigmoid(z) - y);  dy += -g/N z */
Tensor *op_bce_logits(Tape *t, Tensor *logits, Tensor *targets)
{
    if (logits->size != targets->size) shape_error("bce_logits", logits, targets, "sizes differ");
    Tensor *out = result(t, 1, (size_t[]){1}, logits, targets);
    const real *zs = logits->data, *ys = targets->data;
    double total;
    CHUNKED_SUM(total, logits->size, i, ((double)zs[i] > 0 ? (double)zs[i] : 0) - (double)zs[i] * ys[i] + log1p(exp(-fabs((double)zs[i]))));
    out->data[0] = (real)(total / (double)logits->size);
    if (out->grad) push(t, OP_BCE_LOGITS, out, logits, targets);
    return out;
}
static void bce_logits_backward(TapeEntry *e)
{
    Tensor *z = e->in[0], *y = e->in[1];
    real g = e->out->grad[0] / (real)z->size;
    OMP(parallel for schedule(static) if (z->size >= PARALLEL_MIN))
    for (size_t i = 0; i < z->size; i++) {
        if (z->grad) z->grad[i] += g * (sigmoid(z->data[i]) - y->data[i]);
        if (y->grad) y->grad[i] -= g * z->data[i];
    }
}

/* l = mean_i (a - b)^2;  da += 2g/N (a - b);  db -= 2g/N (a - b) */
Tensor *op_mse(Tape *t, Tensor *a, Tensor *b)
{
    if (a->size != b->size) shape_error("mse", a, b, "sizes differ");
    Tensor *out = result(t, 1, (size_t[]){1}, a, b);
    const real *x = a->data, *y = b->data;
    double total;
    CHUNKED_SUM(total, a->size, i, ((double)x[i] - y[i]) * ((double)x[i] - y[i]));
    out->data[0] = (real)(total / (double)a->size);
    if (out->grad) push(t, OP_MSE, out, a, b);
    return out;
}
static void mse_backward(TapeEntry *e)
{
    Tensor *a = e->in[0], *b = e->in[1];
    real g = 2 * e->out->grad[0] / (real)a->size;
    OMP(parallel for schedule(static) if (a->size >= PARALLEL_MIN))
    for (size_t i = 0; i < a->size; i++) {
        real d = a->data[i] - b->data[i];
        if (a->grad) a->grad[i] += g * d;
        if (b->grad) b->grad[i] -= g * d;
    }
}

/* l = mean_r 0.5 sum_k |p - q|;  dp += g/R 0.5 sign(p - q);  dq -= the same */
Tensor *op_total_variation(Tape *t, Tensor *p, Tensor *q)
{
    if (p->size != q->size || p->shape[p->ndim - 1] != q->shape[q->ndim - 1]) shape_error("total_variation", p, q, "shapes differ");
    Tensor *out = result(t, 1, (size_t[]){1}, p, q);
    const real *x = p->data, *y = q->data;
    double total;
    CHUNKED_SUM(total, p->size, i, fabs((double)x[i] - y[i]));
    out->data[0] = (real)(0.5 * total / (double)rows_of(p));
    if (out->grad) push(t, OP_TOTAL_VARIATION, out, p, q);
    return out;
}
static void total_variation_backward(TapeEntry *e)
{
    Tensor *p = e->in[0], *q = e->in[1];
    real g = e->out->grad[0] * (real)0.5 / (real)rows_of(p);
    OMP(parallel for schedule(static) if (p->size >= PARALLEL_MIN))
    for (size_t i = 0; i < p->size; i++) {
        real d = p->data[i] - q->data[i], s = d > 0 ? g : d < 0 ? -g : 0;
        if (p->grad) p->grad[i] += s;
        if (q->grad) q->grad[i] -= s;
    }
}

/* l = mean_r sum_k p (log p - log q), p = exp(log_p);
 * d log_p += g/R p (log p - log q + 1);  d log_q -= g/R p */
Tensor *op_kl_div(Tape *t, Tensor *log_p, Tensor *log_q)
{
    if (log_p->size != log_q->size || log_p->shape[log_p->ndim - 1] != log_q->shape[log_q->ndim - 1]) shape_error("kl_div", log_p, log_q, "shapes differ");
    Tensor *out = result(t, 1, (size_t[]){1}, log_p, log_q);
    const real *lp = log_p->data, *lq = log_q->data;
    double total;
    CHUNKED_SUM(total, log_p->size, i, exp((double)lp[i]) * ((double)lp[i] - lq[i]));
    out->data[0] = (real)(total / (double)rows_of(log_p));
    if (out->grad) push(t, OP_KL_DIV, out, log_p, log_q);
    return out;
}
static void kl_div_backward(TapeEntry *e)
{
    Tensor *lp = e->in[0], *lq = e->in[1];
    real g = e->out->grad[0] / (real)rows_of(lp);
    OMP(parallel for schedule(static) if (lp->size >= PARALLEL_MIN))
    for (size_t i = 0; i < lp->size; i++) {
        real p = EXP(lp->data[i]);
        if (lp->grad) lp->grad[i] += g * p * (lp->data[i] - lq->data[i] + 1);
        if (lq->grad) lq->grad[i] -= g * p;
    }
}

/* ========================================================================================
 * The op table
 * ====================================================================================== */

const char *const op_names[OP_COUNT] = {
    [OP_ADD] = "add", [OP_SUB] = "sub", [OP_MUL] = "mul", [OP_SCALE] = "scale", [OP_ADD_SCALAR] = "add_scalar",
    [OP_MATMUL] = "matmul", [OP_LINEAR] = "linear", [OP_LINEAR_BATCHED] = "linear_batched",
    [OP_SIGMOID] = "sigmoid", [OP_TANH] = "tanh", [OP_RELU] = "relu", [OP_EXP] = "exp", [OP_LOG] = "log",
    [OP_ABS] = "abs", [OP_SUM_AXIS] = "sum_axis", [OP_MEAN_AXIS] = "mean_axis", [OP_SUM_ALL] = "sum_all",
    [OP_MEAN_ALL] = "mean_all", [OP_VARIANCE] = "variance", [OP_QUANTILE] = "quantile",
    [OP_CONCAT] = "concat", [OP_SLICE] = "slice", [OP_PERMUTE] = "permute",
    [OP_GATHER_ROWS] = "gather_rows", [OP_COPY] = "copy", [OP_L2_NORMALIZE] = "l2_normalize",
    [OP_LAYER_NORM] = "layer_norm", [OP_SOFTMAX] = "softmax", [OP_LOG_SOFTMAX] = "log_softmax",
    [OP_DROPOUT] = "dropout", [OP_ATTENTION] = "attention", [OP_CHECKPOINT] = "checkpoint", [OP_LSTM_CELL] = "lstm_cell", [OP_LSTM_SEQUENCE] = "lstm_sequence", [OP_CROSS_ENTROPY] = "cross_entropy",
    [OP_BCE_LOGITS] = "bce_logits", [OP_MSE] = "mse", [OP_TOTAL_VARIATION] = "total_variation",
    [OP_KL_DIV] = "kl_div",
};

static const BackwardFn backward_of[OP_COUNT] = {
    [OP_ADD] = binary_backward, [OP_SUB] = binary_backward, [OP_MUL] = binary_backward,
    [OP_SCALE] = scale_backward, [OP_ADD_SCALAR] = add_scalar_backward,
    [OP_MATMUL] = matmul_backward, [OP_LINEAR] = linear_backward, [OP_LINEAR_BATCHED] = linear_batched_backward,
    [OP_SIGMOID] = unary_backward, [OP_TANH] = unary_backward, [OP_RELU] = unary_backward,
    [OP_EXP] = unary_backward, [OP_LOG] = unary_backward, [OP_ABS] = unary_backward,
    [OP_SUM_AXIS] = reduce_axis_backward, [OP_MEAN_AXIS] = reduce_axis_backward,
    [OP_SUM_ALL] = reduce_all_backward, [OP_MEAN_ALL] = reduce_all_backward,
    [OP_VARIANCE] = variance_backward, [OP_QUANTILE] = quantile_backward,
    [OP_CONCAT] = concat_backward, [OP_SLICE] = slice_backward, [OP_PERMUTE] = permute_backward,
    [OP_GATHER_ROWS] = gather_rows_backward, [OP_COPY] = copy_backward,
    [OP_L2_NORMALIZE] = l2_normalize_backward, [OP_LAYER_NORM] = layer_norm_backward,
    [OP_SOFTMAX] = softmax_backward, [OP_LOG_SOFTMAX] = log_softmax_backward, [OP_DROPOUT] = dropout_backward, [OP_ATTENTION] = attention_backward, [OP_CHECKPOINT] = checkpoint_backward,
    [OP_LSTM_CELL] = lstm_cell_backward, [OP_LSTM_SEQUENCE] = lstm_sequence_backward, [OP_CROSS_ENTROPY] = cross_entropy_backward,
    [OP_BCE_LOGITS] = bce_logits_backward, [OP_MSE] = mse_backward,
    [OP_TOTAL_VARIATION] = total_variation_backward, [OP_KL_DIV] = kl_div_backward,
};

/* ========================================================================================
 * The work of a tape: the matrix products its entries ran and its backward runs, each
 * 2 M N K flops (a multiply and an add per term), counted from the recorded shapes.
 * ====================================================================================== */

void tape_flops(const Tape *t, double *forward, double *backward)
{
    double fw = 0, bw = 0;
    for (size_t i = 0; i < t->count; i++) {
        const TapeEntry *e = &t->entries[i];
        const Tensor *a = e->in[0], *b = e->in[1];
        double product = 0; /* one product of the forward's shape */
        int grads = (a && a->grad) + (b && b->grad);
        switch (e->op) {
        case OP_MATMUL: { /* out (.., M, N), K the inner dim */
            size_t K = e->iarg[0] ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
            product = 2.0 * (double)e->out->size * (double)K;
            break;
        }
        case OP_LINEAR: /* x (R, in), W (out, in) */
            product = 2.0 * (double)rows_of(a) * (double)a->shape[a->ndim - 1] * (double)b->shape[0];
            break;
        case OP_LINEAR_BATCHED: /* x (B, M, in), W (B, out, in) */
            product = 2.0 * (double)a->size * (double)b->shape[1];
            break;
        case OP_LSTM_SEQUENCE: { /* xg (B, T, G), W_hh (G, H): h_{t-1} W_hh^T for t >= 1 */
            size_t B = a->shape[0], T = a->shape[1], G = b->shape[0], H = b->shape[1];
            double step = 2.0 * (double)B * (double)G * (double)H;
            fw += step * (double)(T - 1);
            bw += step * (double)(T - 1) + (b->grad ? step * (double)T : 0); /* dh_{t-1}; dW_hh over all B T rows */
            continue;
        }
        case OP_CHECKPOINT: { /* fn's products, and in the backward fn's forward again (known once the backward ran) */
            const CheckpointSaved *sv = e->saved;
            fw += sv->forward;
            bw += sv->forward + sv->backward;
            continue;
        }
        case OP_ATTENTION: { /* q (B, Tq, D), kv (B, T, 2D): per head S = q k^T, then S v */
            double one = 2.0 * (double)a->size * (double)b->shape[1]; /* B Tq T D multiply-adds */
            fw += 2 * one;
            /* the backward recomputes S, then dv, dPd, dk (with kv's gradient), dq (with q's) */
            bw += one * (1 + (b->grad ? 2 : 0) + (a->grad || b->grad) + (a->grad != NULL));
            continue;
        }
        default:
            continue;
        }
        fw += product;
        bw += product * grads;
    }
    *forward = fw;
    *backward = bw;
}

/* ========================================================================================
 * Parameters: one flat buffer each for values, gradients and AdamW moments
 * ====================================================================================== */

void paramset_init(ParamSet *ps, const char *name)
{
    memset(ps, 0, sizeof *ps);
    snprintf(ps->name, sizeof ps->name, "%s", name);
}

Tensor *paramset_add(ParamSet *ps, const char *name, int ndim, const size_t *shape)
{
    if (ps->data) rr_fatal("paramset %s: parameter %s declared after finalize", ps->name, name);
    if (ps->count == ps->capacity) {
        ps->capacity = ps->capacity ? 2 * ps->capacity : 16;
        Tensor **v = realloc(ps->views, ps->capacity * sizeof *v);
        char (*nm)[64] = realloc(ps->names, ps->capacity * sizeof *nm);
        size_t *off = realloc(ps->offsets, ps->capacity * sizeof *off);
        if (!v || !nm || !off) rr_fatal("out of memory declaring parameters of %s", ps->name);
        ps->views = v;
        ps->names = nm;
        ps->offsets = off;
    }
    Tensor *a = rr_malloc(sizeof *a, "parameter view");
    *a = tensor_wrap(NULL, NULL, ndim, shape);
    snprintf(ps->names[ps->count], 64, "%s", name);
    ps->offsets[ps->count] = ps->n;
    ps->views[ps->count++] = a;
    ps->n += a->size;
    return a;
}

void paramset_finalize(ParamSet *ps)
{
    ps->data = rr_calloc(ps->n, sizeof(real), "parameters");
    ps->grad = rr_calloc(ps->n, sizeof(real), "gradients");
    ps->m = rr_calloc(ps->n, sizeof(real), "AdamW first moments");
    ps->v = rr_calloc(ps->n, sizeof(real), "AdamW second moments");
    for (size_t i = 0; i < ps->count; i++) {
        ps->views[i]->data = ps->data + ps->offsets[i];
        ps->views[i]->grad = ps->grad + ps->offsets[i];
    }
}

void paramset_free(ParamSet *ps)
{
    for (size_t i = 0; i < ps->count; i++) free(ps->views[i]);
    free(ps->views);
    free(ps->names);
    free(ps->offsets);
    free(ps->data);
    free(ps->grad);
    free(ps->m);
    free(ps->v);
    memset(ps, 0, sizeof *ps);
}

void paramset_zero_grad(ParamSet *ps) { memset(ps->grad, 0, ps->n * sizeof(real)); }

size_t paramset_offset(const ParamSet *ps, size_t i) { return ps->offsets[i]; }

double paramset_grad_norm(const ParamSet *ps)
{
    const real *g = ps->grad;
    double ss;
    CHUNKED_SUM(ss, ps->n, i, (double)g[i] * g[i]);
    return sqrt(ss);
}

double paramset_clip_grad_norm(ParamSet *ps, double max_norm)
{
    double norm = paramset_grad_norm(ps), coef = max_norm / (norm + 1e-6);
    if (coef < 1) {
        OMP(parallel for schedule(static) if (ps->n >= PARALLEL_MIN))
        for (size_t i = 0; i < ps->n; i++) ps->grad[i] = (real)(ps->grad[i] * coef);
    }
    return norm;
}

void init_uniform(Tensor *a, Rng *rng, double bound)
{
    for (size_t i = 0; i < a->size; i++) a->data[i] = (real)((2 * rng_uniform(rng) - 1) * bound);
}

void init_normal(Tensor *a, Rng *rng, double std)
{
    for (size_t i = 0; i < a->size; i++) a->data[i] = (real)(std * rng_normal(rng));
}

void init_constant(Tensor *a, real value)
{
    for (size_t i = 0; i < a->size; i++) a->data[i] = value;
}

AdamW adamw_default(void)
{
    AdamW o = {1e-3, 0.9, 0.999, 1e-8, 0.01};
    return o;
}

void adamw_step(ParamSet *ps, const AdamW *opt)
{
    ps->step++;
    double bc1 = 1 - pow(opt->beta1, (double)ps->step), bc2 = 1 - pow(opt->beta2, (double)ps->step);
    double step_size = opt->lr / bc1, bc2_sqrt = sqrt(bc2), decay = 1 - opt->lr * opt->weight_decay;
    double b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    real *restrict theta = ps->data, *restrict m = ps->m, *restrict v = ps->v;
    const real *restrict grad = ps->grad; /* four separate buffers: the loop vectorises */
    OMP(parallel for schedule(static) if (ps->n >= PARALLEL_MIN))
    for (size_t i = 0; i < ps->n; i++) {
        double g = grad[i];
        double mi = b1 * m[i] + (1 - b1) * g;
        double vi = b2 * v[i] + (1 - b2) * g * g;
        m[i] = (real)mi;
        v[i] = (real)vi;
        /* decoupled weight decay first, then the Adam step, as torch */
        theta[i] = (real)(theta[i] * decay - step_size * mi / (sqrt(vi) / bc2_sqrt + eps));
    }
}

double schedule_piecewise(const double *steps, const double *values, size_t n, double step)
{
    if (step <= steps[0]) return values[0];
    for (size_t i = 1; i < n; i++)
        if (step <= steps[i])
            return values[i - 1] + (values[i] - values[i - 1]) * (step - steps[i - 1]) / (steps[i] - steps[i - 1]);
    return values[n - 1];
}
