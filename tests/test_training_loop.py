"""PyTorch's training loop, imports changed only: parity with torch, one program per step."""

import numpy as np
import torch
from models import EmberMLP, mnist_like, torch_mlp

import ember as em
from ember import nn, optim
from ember.runtime.stats import COMPILES
from ember.utils.data import DataLoader, TensorDataset


def _load(tnet, net):
    tnet.load_state_dict({k: torch.tensor(np.asarray(v)) for k, v in net.state_dict().items()})


def _close(net, tnet, rtol=1e-4, atol=1e-5):
    for name, v in tnet.state_dict().items():
        np.testing.assert_allclose(
            np.asarray(net.state_dict()[name]),
            v.detach().numpy(),
            rtol=rtol,
            atol=atol,
            err_msg=name,
        )


def _literal_loop(lib, net, opt, batches, criterion):
    losses = []
    for inputs, labels in batches:
        opt.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def test_seed_mlp_sgd_momentum_20_iterations_match_torch():
    em.manual_seed(0)
    net, tnet = EmberMLP(), torch_mlp()
    _load(tnet, net)
    x, y = mnist_like(20 * 16)
    batches = [(x[i : i + 16], y[i : i + 16]) for i in range(0, len(x), 16)]
    opt = optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    topt = torch.optim.SGD(tnet.parameters(), lr=0.05, momentum=0.9)
    before = COMPILES["optimizer.step"]
    got = _literal_loop(
        em, net, opt, [(em.tensor(a), em.tensor(b)) for a, b in batches], nn.CrossEntropyLoss()
    )
    want = _literal_loop(
        torch,
        tnet,
        topt,
        [(torch.tensor(a), torch.tensor(b)) for a, b in batches],
        torch.nn.CrossEntropyLoss(),
    )
    np.testing.assert_allclose(got, want, rtol=1e-4)
    _close(net, tnet)
    assert COMPILES["optimizer.step"] == before + 1  # one program for 20 iterations


class CNN(nn.Module):
    def __init__(self, lib):
        super().__init__()
        self.conv = lib.nn.Conv2d(1, 4, 3, padding=1, bias=False)  # BN follows: no bias
        self.bn = lib.nn.BatchNorm2d(4)
        self.fc = lib.nn.Linear(4 * 7 * 7, 10)
        self.lib = lib

    def forward(self, x):
        x = self.lib.nn.functional.max_pool2d(self.lib.relu(self.bn(self.conv(x))), 2)
        return self.fc(self.lib.flatten(x, 1))


class TorchCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 7 * 7, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.bn(self.conv(x))), 2)
        return self.fc(torch.flatten(x, 1))


def test_cnn_with_batchnorm_adam_20_iterations_match_torch():
    em.manual_seed(1)
    net, tnet = CNN(em), TorchCNN()
    _load(tnet, net)
    rng = np.random.default_rng(2)
    batches = [
        (rng.standard_normal((8, 1, 14, 14)).astype("float32"), rng.integers(0, 10, 8))
        for _ in range(20)
    ]
    opt = optim.Adam(net.parameters(), lr=1e-3)
    topt = torch.optim.Adam(tnet.parameters(), lr=1e-3)
    got = _literal_loop(em, net, opt, batches, nn.CrossEntropyLoss())
    want = _literal_loop(
        torch,
        tnet,
        topt,
        [(torch.tensor(a), torch.tensor(b)) for a, b in batches],
        torch.nn.CrossEntropyLoss(),
    )
    np.testing.assert_allclose(got, want, rtol=2e-4)
    _close(net, tnet, rtol=1e-3, atol=1e-4)  # BN running stats included
    net.eval()
    tnet.eval()
    x = batches[0][0]
    np.testing.assert_allclose(
        net(x).numpy(), tnet(torch.tensor(x)).detach().numpy(), rtol=1e-3, atol=1e-4
    )


def _gan(lib):
    g = lib.nn.Sequential(lib.nn.Linear(3, 8), lib.nn.ReLU(), lib.nn.Linear(8, 4))
    d = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.LeakyReLU(0.2), lib.nn.Linear(8, 1))
    return g, d


def _gan_loop(lib, g, d, opt_g, opt_d, data, noise):
    bce = lib.nn.BCEWithLogitsLoss()
    hist = []
    for real, z in zip(data, noise, strict=True):
        ones, zeros = lib.ones(len(real), 1), lib.zeros(len(real), 1)
        opt_d.zero_grad()
        fake = g(z)
        loss_d = bce(d(real), ones) + bce(d(fake.detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = bce(d(fake), ones)
        loss_g.backward()
        opt_g.step()
        hist.append((loss_d.item(), loss_g.item()))
    return hist


def test_gan_with_two_optimizers_matches_torch_sequential_semantics():
    em.manual_seed(3)
    g, d = _gan(em)
    tg, td = _gan(torch)
    _load(tg, g)
    _load(td, d)
    rng = np.random.default_rng(4)
    data = [rng.standard_normal((6, 4)).astype("float32") for _ in range(20)]
    noise = [rng.standard_normal((6, 3)).astype("float32") for _ in range(20)]
    betas = (0.5, 0.999)
    got = _gan_loop(
        em,
        g,
        d,
        optim.Adam(g.parameters(), lr=2e-3, betas=betas),
        optim.Adam(d.parameters(), lr=2e-3, betas=betas),
        [em.tensor(a) for a in data],
        [em.tensor(a) for a in noise],
    )
    want = _gan_loop(
        torch,
        tg,
        td,
        torch.optim.Adam(tg.parameters(), lr=2e-3, betas=betas),
        torch.optim.Adam(td.parameters(), lr=2e-3, betas=betas),
        [torch.tensor(a) for a in data],
        [torch.tensor(a) for a in noise],
    )
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    _close(g, tg)
    _close(d, td)


def test_literal_loop_and_fit_give_identical_parameters_and_share_state():
    em.manual_seed(5)
    a = EmberMLP()
    b = EmberMLP()
    b.load_state_dict(a.state_dict())
    x, y = mnist_like(64)
    y = y.astype("int32")
    opt_a = optim.SGD(a.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(TensorDataset(x, y), batch_size=16)
    _literal_loop(em, a, opt_a, loader, nn.CrossEntropyLoss())
    model = em.compile(
        b, loss=nn.CrossEntropyLoss(), optimizer=optim.SGD(b.parameters(), lr=0.1, momentum=0.9)
    )
    model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)
    # then the other style on the same module and optimizer: both continue from one state
    model_a = em.compile(a, loss=nn.CrossEntropyLoss(), optimizer=opt_a)
    model_a.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    _literal_loop(em, b, model.optimizer, loader, nn.CrossEntropyLoss())
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-6, err_msg=n)


def test_evaluation_idiom_and_modes():
    em.manual_seed(6)
    net = EmberMLP()
    x, y = mnist_like(32)
    loader = DataLoader(TensorDataset(em.tensor(x), em.tensor(y)), batch_size=8)
    correct = total = 0
    net.eval()
    with em.no_grad():
        for images, labels in loader:
            outputs = net(images)
            _, predicted = em.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
    want = (np.asarray(net(x)).argmax(1) == y).sum()
    assert total == 32 and correct == want


def test_data_dependent_python_branch_materializes_and_works():
    x = em.tensor([1.0, -2.0, 3.0])
    s = x.sum()
    y = x * 2 if s > 0 else x * -2
    np.testing.assert_allclose(y.numpy(), [2.0, -4.0, 6.0])


def test_clip_grad_norm_between_backward_and_step_matches_torch():
    em.manual_seed(8)
    net = nn.Linear(4, 3)
    tnet = torch.nn.Linear(4, 3)
    _load(tnet, net)
    x = np.random.default_rng(9).standard_normal((5, 4)).astype("float32") * 10
    opt, topt = optim.SGD(net.parameters(), lr=0.1), torch.optim.SGD(tnet.parameters(), lr=0.1)
    (net(x) ** 2).sum().backward()
    total = nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
    (tnet(torch.tensor(x)) ** 2).sum().backward()
    ttotal = torch.nn.utils.clip_grad_norm_(tnet.parameters(), 1.0)
    topt.step()
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-5)
    _close(net, tnet, rtol=1e-5, atol=1e-6)


def test_repeated_module_calls_follow_modes_shapes_and_replaced_parameters():
    """A loop's repeated `net(x)` skips re-deriving its program; it must still see a mode
    change, a new input shape and a replaced parameter, like torch does."""
    em.manual_seed(7)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 4)
            self.bn = nn.BatchNorm1d(4)
            self.drop = nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(self.bn(self.fc(x)))

    class TNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(6, 4)
            self.bn = torch.nn.BatchNorm1d(4)

        def forward(self, x):
            return self.bn(self.fc(x))

    net, tnet = Net(), TNet()
    _load(tnet, net)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((n, 6)).astype("float32") for n in (8, 8, 5, 8)]
    net.eval()
    tnet.eval()
    for x in xs:  # eval: dropout off, running statistics used and unchanged
        np.testing.assert_allclose(
            net(em.tensor(x)).numpy(), tnet(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
        )
    net.drop.p = 0.0
    net.train()  # train: batch statistics, running statistics updated on each call
    tnet.train()
    for x in xs:
        np.testing.assert_allclose(
            net(em.tensor(x)).numpy(), tnet(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5
        )
    _close(net, tnet)  # running_mean / running_var / num_batches_tracked
    net.fc.weight = nn.Parameter(em.tensor(np.ones((4, 6), "float32")))
    tnet.fc.weight = torch.nn.Parameter(torch.ones(4, 6))
    x = xs[0]
    np.testing.assert_allclose(
        net(em.tensor(x)).numpy(), tnet(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5
    )


def test_a_module_call_keeps_no_reference_to_its_arguments():
    """The repeated-call cache holds programs, never tensors: a dropped input is freed and
    nothing of an abandoned iteration joins the next cut (one program for the loop)."""
    import gc
    import weakref

    em.manual_seed(8)
    net = EmberMLP()
    x, y = mnist_like(8)
    inputs = em.tensor(x)
    out = net(inputs)
    ref = weakref.ref(inputs)
    del inputs, out
    gc.collect()
    assert ref() is None
    opt = optim.SGD(net.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    abandoned = criterion(net(em.tensor(x)), em.tensor(y))  # recorded, never computed
    del abandoned
    before = COMPILES["optimizer.step"]
    for _ in range(3):
        opt.zero_grad()
        loss = criterion(net(em.tensor(x)), em.tensor(y))
        loss.backward()
        opt.step()
        loss.item()
    assert COMPILES["optimizer.step"] - before == 1
