#!/usr/bin/python3
"""bench_torch.py - the zoo RNN's training step in PyTorch, timed as `rnnrep bench` times it.

The step of `rnnrep bench zoo-step-formal|zoo-step-mnist`: nn.LSTM(I, 32, num_layers=2,
batch_first=True) and nn.Linear(32, O) at every step, batch 32, cross-entropy over every step,
AdamW (lr 0.01, weight decay 1e-4); formal languages I = O = 6 over 41 steps (one-hot tokens),
MNIST I = 16, O = 10 over 50 steps (normal inputs). One thread. Prints rnnrep bench's first two
columns: name and wall-clock ms per step (median of 7 repeats of about 0.1 s, after two
warm-up steps). A development tool: it needs python3-torch (Debian), which rnnrep does not.
Run with `make bench-torch`, which times rnnrep's steps in the same run.
"""
import statistics
import time

import torch


def zoo_step(inputs, outputs, steps, one_hot):
    torch.manual_seed(5)
    lstm = torch.nn.LSTM(inputs, 32, num_layers=2, batch_first=True)
    linear = torch.nn.Linear(32, outputs)
    params = list(lstm.parameters()) + list(linear.parameters())
    opt = torch.optim.AdamW(params, lr=0.01, weight_decay=1e-4)
    labels = torch.randint(outputs, (32, steps))
    if one_hot:
        x = torch.nn.functional.one_hot(torch.randint(inputs, (32, steps)), inputs).float()
    else:
        x = torch.randn(32, steps, inputs)

    def step():
        opt.zero_grad()
        h, _ = lstm(x)
        loss = torch.nn.functional.cross_entropy(linear(h).reshape(-1, outputs), labels.reshape(-1))
        loss.backward()
        opt.step()
    return step


def bench(fn):
    fn()
    fn()
    iters = 1
    while True:
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        dt = time.perf_counter() - t0
        if dt > 0.1:
            break
        iters = int(iters * 0.12 / dt) + 1 if dt > 0.01 else iters * 10
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        times.append((time.perf_counter() - t0) / iters)
    return statistics.median(times)


def main():
    torch.set_num_threads(1)
    print(f"name\tms\t(PyTorch {torch.__version__}, one thread)")
    for name, args in [("zoo-step-formal", (6, 6, 41, True)), ("zoo-step-mnist", (16, 10, 50, False))]:
        print(f"torch-{name}\t{1e3 * bench(zoo_step(*args)):.4f}", flush=True)


if __name__ == "__main__":
    main()
