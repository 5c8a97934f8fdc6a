"""examples/char_gpt.py in PyTorch: the same model, AdamW, clipping, data and steps (CPU).

python bench/char_gpt_torch_reference.py --data-dir ../shared/data/text

The batches are drawn by the example's own numpy code (`RandomWindows`, `windows`,
`split_ids`, same seeds), so both programs see the same windows in the same order;
only the initial weights differ (each framework's own RNG, same distributions).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from char_gpt import RandomWindows, parser, split_ids, windows  # noqa: E402

from ember.datasets import CharVocabulary, load_tinyshakespeare  # noqa: E402


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.register_buffer(
            "mask",
            torch.tril(torch.ones(block_size, block_size)).view(1, 1, block_size, block_size),
        )

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.shape[-1]))
        att = att.masked_fill(self.mask[:, :, :T, :T] == 0, float("-inf"))
        y = (F.softmax(att, dim=-1) @ v).transpose(1, 2).reshape(B, T, C)
        return self.c_proj(y)


class Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, block_size)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd)
        )

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class CharGPT(nn.Module):
    def __init__(self, vocab: int, block: int, n_layer: int, n_head: int, n_embd: int):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block, n_embd)
        self.h = nn.ModuleList([Block(n_embd, n_head, block) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.wte.weight = self.lm_head.weight
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, mean=0.0, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    def forward(self, idx):
        pos = torch.arange(idx.shape[1])
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def main() -> None:
    p = parser()
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    text = load_tinyshakespeare(args.data_dir)
    vocab = CharVocabulary.from_text(text)
    train_ids, val_ids = split_ids(vocab.encode(text))
    torch.manual_seed(args.seed)
    net = CharGPT(len(vocab), args.block_size, args.n_layer, args.n_head, args.n_embd)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, betas=(0.9, 0.99), weight_decay=0.1)
    vrng = np.random.default_rng(args.seed + 1)
    starts = vrng.integers(
        0, len(val_ids) - args.block_size - 1, args.val_batches * args.batch_size
    )
    xv, yv = (torch.from_numpy(a).long() for a in windows(val_ids, starts, args.block_size))
    batches = RandomWindows(train_ids, args.block_size, args.batch_size, args.steps, args.seed)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{sum(p.numel() for p in net.parameters()) / 1e6:.2f} M parameters"
    )
    start = time.perf_counter()
    for epoch in range(args.epochs):
        net.train()
        total = 0.0
        for x, y in batches:
            x, y = torch.from_numpy(x).long(), torch.from_numpy(y).long()
            logits = net(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            total += loss.item()
        net.eval()
        with torch.no_grad():
            losses = []
            for i in range(0, len(xv), args.batch_size):
                logits = net(xv[i : i + args.batch_size])
                losses.append(
                    F.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]),
                        yv[i : i + args.batch_size].reshape(-1),
                    ).item()
                )
        val_loss = float(np.mean(losses))
        print(f"epoch {epoch + 1}: train loss {total / args.steps:.4f}  val loss {val_loss:.4f}")
    seconds = time.perf_counter() - start
    print(
        f"torch val loss {val_loss:.4f} after {args.epochs * args.steps} steps "
        f"({seconds:.1f} s training)"
    )


if __name__ == "__main__":
    main()
