"""A nanoGPT-style character language model on tiny Shakespeare, sampled with top-k.

python examples/char_gpt.py --data-dir ../shared/data/text     # or the cache / a download
python examples/char_gpt.py --data-dir ../shared/data/text --n-layer 6 --n-head 6 --n-embd 384
    --block-size 256 --batch-size 64 --dropout 0.2 --epochs 10 --steps 500   # accelerators

The text is split 90/10 into train and validation characters. An "epoch" is
`--steps` optimizer steps on random windows of the train split (fresh windows each
epoch); validation loss is the mean over `--val-batches` fixed random windows of the
validation split. After training, a sample is drawn with top-k sampling
(`em.topk` + `em.multinomial`) by a PyTorch-style generation loop on lazy tensors.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import numpy as np

import ember as em
import ember.nn.functional as F
from ember import nn, optim
from ember.datasets import CharVocabulary, load_tinyshakespeare


@dataclass
class GPTConfig:
    """Model sizes; the defaults train in a few minutes on a 2-core CPU."""

    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    tie_weights: bool = True


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with a registered lower-triangular mask buffer."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head = cfg.n_head
        self.c_attn = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.c_proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.attn_dropout = nn.Dropout(cfg.dropout)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        n = cfg.block_size
        self.register_buffer("mask", em.tril(em.ones(n, n)).view(1, 1, n, n))

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        att = self.attn_dropout(F.softmax(att, dim=-1))
        y = (att @ v).transpose(1, 2).reshape(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CharGPT(nn.Module):
    """Token + position embeddings, `n_layer` pre-norm blocks, a final LayerNorm and a
    (tied) linear head: `(B, T)` ids -> `(B, T, vocab)` logits."""

    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_weights:
            self.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():  # GPT-2's scaled residual projections
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx):
        T = idx.shape[1]
        pos = em.arange(T)
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def lm_loss(logits, targets):
    """Mean next-character cross-entropy over every position of every window."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class RandomWindows:
    """`steps` batches of random `(x, y)` windows (y is x shifted by one); fresh windows
    on every pass, so one pass is one "epoch" of `steps` steps."""

    def __init__(self, ids: np.ndarray, block_size: int, batch_size: int, steps: int, seed: int):
        if len(ids) <= block_size + 1:
            raise ValueError(f"text of {len(ids)} characters is too short for block {block_size}")
        self.ids, self.block, self.batch, self.steps = ids, block_size, batch_size, steps
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.steps

    def __iter__(self):
        for _ in range(self.steps):
            yield windows(
                self.ids,
                self.rng.integers(0, len(self.ids) - self.block - 1, self.batch),
                self.block,
            )


def windows(ids: np.ndarray, starts: np.ndarray, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs `ids[s : s+T]` and targets `ids[s+1 : s+T+1]` for each start `s`."""
    rows = starts[:, None] + np.arange(block_size)[None, :]
    return ids[rows].astype(np.int32), ids[rows + 1].astype(np.int32)


def split_ids(ids: np.ndarray, train_fraction: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """The first 90% of the characters for training, the rest for validation."""
    n = int(train_fraction * len(ids))
    return ids[:n], ids[n:]


def generate(
    net: CharGPT,
    context: list[int],
    max_new_tokens: int,
    *,
    top_k: int | None = 10,
    temperature: float = 1.0,
) -> list[int]:
    """Sample `max_new_tokens` ids after `context` (PyTorch-style loop on lazy tensors).

    The window has a fixed shape `(1, block_size)`: the context sits left-aligned and the
    logits are read at its last real position (the attention is causal, so the padding
    after it changes nothing), so every step runs the same compiled program.
    """
    block = net.config.block_size
    out = list(context) or [0]
    window = np.zeros((1, block), np.int32)
    was_training = net.training
    net.eval()
    with em.no_grad():
        for _ in range(max_new_tokens):
            ctx = out[-block:]
            window[0, : len(ctx)] = ctx
            logits = net(em.tensor(window))  # (1, T, V)
            last = em.tensor(np.array([len(ctx) - 1], np.int32))
            logits = logits.index_select(1, last)[:, 0, :] / temperature
            if top_k is not None:
                v, _ = em.topk(logits, min(top_k, logits.shape[-1]))
                logits = logits.masked_fill(logits < v[:, -1:], float("-inf"))
            probs = F.softmax(logits, dim=-1)
            out.append(int(em.multinomial(probs, num_samples=1).item()))
    net.train(was_training)
    return out[len(context) :] if context else out[1:]


def build_model(args: argparse.Namespace, vocab_size: int) -> tuple[CharGPT, em.CompiledModel]:
    cfg = GPTConfig(
        vocab_size=vocab_size,
        block_size=args.block_size,
        n_layer=args.n_layer,
        n_head=args.n_head,
        n_embd=args.n_embd,
        dropout=args.dropout,
    )
    em.manual_seed(args.seed)
    net = CharGPT(cfg)
    optimizer = optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.1)
    model = em.compile(
        net,
        loss=lm_loss,
        optimizer=optimizer,
        clip_grad_norm=1.0,
        steps_per_execution=args.steps_per_execution,
        **em.distributed.mesh_from_flag(getattr(args, "mesh", None)),
    )
    return net, model


def run(args: argparse.Namespace, text: str) -> dict:
    """Train on `text`, print validation loss per epoch and a sample; returns the figures."""
    vocab = CharVocabulary.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text))
    print(
        f"{len(text):,} characters, vocabulary {len(vocab)}; "
        f"train {len(train_ids):,}, validation {len(val_ids):,}"
    )
    net, model = build_model(args, len(vocab))
    n_params = sum(p.numel() for p in net.parameters())
    print(f"CharGPT: {n_params / 1e6:.2f} M parameters, block {args.block_size}")
    vrng = np.random.default_rng(args.seed + 1)
    val = windows(
        val_ids,
        vrng.integers(0, len(val_ids) - args.block_size - 1, args.val_batches * args.batch_size),
        args.block_size,
    )
    batches = RandomWindows(train_ids, args.block_size, args.batch_size, args.steps, args.seed)
    start = time.perf_counter()
    history = model.fit(
        batches,
        epochs=args.epochs,
        batch_size=args.batch_size,
        validation_data=val,
        verbose=1 if args.progress else 0,
    )
    for epoch, (loss, val_loss) in enumerate(
        zip(history["loss"], history["val_loss"], strict=True), 1
    ):
        print(f"epoch {epoch}: train loss {loss:.4f}  val loss {val_loss:.4f}")
    seconds = time.perf_counter() - start
    steps = args.epochs * args.steps
    if args.plot:
        history.plot(args.plot)
        print(f"wrote {args.plot}")
    em.manual_seed(args.seed)
    prompt = vocab.encode("\n").tolist() if "\n" in vocab.chars else [0]
    sample = vocab.decode(generate(net, prompt, args.sample_len, top_k=args.top_k))
    print(f"--- sample (top-k {args.top_k}, {args.sample_len} characters) ---\n{sample}\n---")
    val_loss = history["val_loss"][-1]
    print(f"val loss {val_loss:.4f} after {steps} steps ({seconds:.1f} s training)")
    return {"history": history, "val_loss": val_loss, "seconds": seconds, "sample": sample}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, help="folder with tinyshakespeare.txt (or the file)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps", type=int, default=100, help="optimizer steps per epoch")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument("--mesh", default=None, help="devices: 'data=-1', 'fsdp=-1', 'off'")
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--n-layer", type=int, default=4)
    p.add_argument("--n-head", type=int, default=4)
    p.add_argument("--n-embd", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--val-batches", type=int, default=20)
    p.add_argument("--top-k", type=int, default=10)
    p.add_argument("--sample-len", type=int, default=300)
    p.add_argument("--plot", default=None, help="write the loss curves to this PNG")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    em.distributed.initialize()  # joins the other hosts of a TPU slice; no-op on one host
    text = load_tinyshakespeare(args.data_dir)
    return run(args, text)


if __name__ == "__main__":
    main()
