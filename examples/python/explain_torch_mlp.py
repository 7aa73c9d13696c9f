"""Explain a PyTorch model with spex: train a small MLP on the breast-cancer
data (../shared/data/breast_cancer.csv, 30 features), then explain its
logit for one held-out patient by feature interactions.

A mask keeps some features of the patient and replaces the others by the
training mean; the value is the MLP's logit. spex asks the model on a few
thousand masks (one batched forward pass per batch), fits a sparse
surrogate and reports Faithful Shapley interactions up to order 2.

    python3 examples/python/explain_torch_mlp.py [--budget 2000] [--method spex]
"""
import argparse
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))  # run from a checkout
import spex  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "breast_cancer.csv")


def load(path):
    with open(path) as fh:
        header = fh.readline().strip().split(",")
    xy = np.loadtxt(path, delimiter=",", skiprows=1)
    return header[:-1], xy[:, :-1], xy[:, -1]


def train_mlp(x, y, seed=0, epochs=300):
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 32), torch.nn.ReLU(),
                              torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    for _ in range(epochs):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt).squeeze(1), yt)
        loss.backward()
        opt.step()
    return net.eval()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=DATA)
    ap.add_argument("--method", default="spex")
    ap.add_argument("--budget", type=int, default=2000)
    ap.add_argument("--patient", type=int, default=0, help="row of the test split")
    ap.add_argument("--html", help="write the HTML report here")
    a = ap.parse_args(argv)

    names, x, y = load(a.data)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    test, train = order[:100], order[100:]
    mu, sd = x[train].mean(axis=0), x[train].std(axis=0) + 1e-12
    z = (x - mu) / sd  # standardised: the training mean is 0
    net = train_mlp(z[train], y[train])
    with torch.no_grad():
        pred = net(torch.tensor(z[test], dtype=torch.float32)).squeeze(1).numpy() > 0
    accuracy = float((pred == (y[test] > 0.5)).mean())

    patient = torch.tensor(z[test[a.patient]], dtype=torch.float32)

    def logit(masks):  # (batch, 30) bool -> (batch,) logits
        keep = torch.from_numpy(masks)
        with torch.no_grad():
            return net(torch.where(keep, patient, torch.zeros(()))).squeeze(1).numpy()

    r = spex.explain(logit, n=len(names), method=a.method, budget=a.budget, index="fsii",
                     max_order=2, feature_names=names)
    print(f"MLP test accuracy {accuracy:.3f}; explaining test patient {a.patient} "
          f"(logit {float(logit(np.ones((1, len(names)), bool))[0]):+.3f})\n")
    print(r.table(10))
    # how faithful is the surrogate? R² on random masks the method never saw
    masks = np.random.default_rng(1).random((2000, len(names))) < 0.5
    truth, surrogate = logit(masks), r.predict(masks)
    r2 = 1 - np.sum((truth - surrogate) ** 2) / np.sum((truth - truth.mean()) ** 2)
    print(f"faithfulness R² {r2:.4f} on 2000 random masks; {r.queries} model queries")
    if a.html:
        r.html(title="MLP on breast cancer", path=a.html)
    return {"accuracy": accuracy, "r2": float(r2), "result": r}


if __name__ == "__main__":
    main()
