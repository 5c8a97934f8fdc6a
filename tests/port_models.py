"""PyTorch programs ported to ember by changing imports only (used by test_port_programs.py).

Each `define_*` function holds one program's model code written against PyTorch's
names. It is called twice: `define_x(torch, torch.nn, torch.nn.functional)` and
`define_x(em, em.nn, em.nn.functional)`, the in-code equivalent of swapping
`import torch` for `import ember as torch`. The methods ember needs on top of
PyTorch (`training_step`) are ordinary methods PyTorch simply never calls.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

# -- 1. seq2seq: GRU encoder, GRU decoder with Bahdanau attention (PyTorch's tutorial) ------


def define_seq2seq(torch, nn, F):
    class EncoderRNN(nn.Module):
        def __init__(self, vocab, hidden):
            super().__init__()
            self.embedding = nn.Embedding(vocab, hidden)
            self.gru = nn.GRU(hidden, hidden, batch_first=True)

        def forward(self, src):
            return self.gru(self.embedding(src))

    class BahdanauAttention(nn.Module):
        def __init__(self, hidden):
            super().__init__()
            self.Wa = nn.Linear(hidden, hidden)
            self.Ua = nn.Linear(hidden, hidden)
            self.Va = nn.Linear(hidden, 1)

        def forward(self, query, keys):
            scores = self.Va(torch.tanh(self.Wa(query) + self.Ua(keys)))
            scores = scores.squeeze(2).unsqueeze(1)
            weights = F.softmax(scores, dim=-1)
            context = torch.bmm(weights, keys)
            return context, weights

    class AttnDecoderRNN(nn.Module):
        def __init__(self, hidden, vocab):
            super().__init__()
            self.embedding = nn.Embedding(vocab, hidden)
            self.attention = BahdanauAttention(hidden)
            self.gru = nn.GRU(2 * hidden, hidden, batch_first=True)
            self.out = nn.Linear(hidden, vocab)

        def forward_step(self, inp, hidden, encoder_outputs):
            embedded = self.embedding(inp)
            query = hidden.permute(1, 0, 2)
            context, attn_weights = self.attention(query, encoder_outputs)
            output, hidden = self.gru(torch.cat((embedded, context), dim=2), hidden)
            return self.out(output), hidden, attn_weights

    class Seq2Seq(nn.Module):
        """`teacher_forcing`: a tuple of bools, one per decoder step (a fixed schedule),
        or a probability drawn per step with the framework's RNG (`torch.rand`)."""

        def __init__(self, vocab, hidden, teacher_forcing=1.0):
            super().__init__()
            self.encoder = EncoderRNN(vocab, hidden)
            self.decoder = AttnDecoderRNN(hidden, vocab)
            self.teacher_forcing = teacher_forcing

        def forward(self, src, tgt):
            encoder_outputs, hidden = self.encoder(src)
            dec_input = tgt[:, :1]  # <sos> column
            outputs, attentions = [], []
            for t in range(tgt.shape[1]):
                out, hidden, attn = self.decoder.forward_step(dec_input, hidden, encoder_outputs)
                outputs.append(out)
                attentions.append(attn)
                if t + 1 == tgt.shape[1]:
                    break
                predicted = out.argmax(-1).detach()
                forced = tgt[:, t + 1 : t + 2]
                if isinstance(self.teacher_forcing, tuple):
                    dec_input = forced if self.teacher_forcing[t] else predicted
                else:
                    use_tf = torch.rand(()) < self.teacher_forcing
                    dec_input = torch.where(use_tf, forced, predicted.to(forced.dtype))
            return torch.cat(outputs, dim=1), torch.cat(attentions, dim=1)

    class PythonRandomTeacherForcing(Seq2Seq):
        """The tutorial's `random.random() < ratio` inside forward: frozen when traced."""

        def forward(self, src, tgt):
            self.teacher_forcing = (random.random() < 0.5,) * tgt.shape[1]
            return super().forward(src, tgt)

    return Seq2Seq, PythonRandomTeacherForcing


# -- 2. text classification with EmbeddingBag (PyTorch's tutorial) ---------------------------


def define_text_classifier(torch, nn, F):
    class TextClassificationModel(nn.Module):
        def __init__(self, vocab_size, embed_dim, num_class):
            super().__init__()
            self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean")
            self.fc = nn.Linear(embed_dim, num_class)
            self.init_weights()

        def init_weights(self):
            initrange = 0.5
            self.embedding.weight.data.uniform_(-initrange, initrange)
            self.fc.weight.data.uniform_(-initrange, initrange)
            self.fc.bias.data.zero_()

        def forward(self, text, offsets):
            return self.fc(self.embedding(text, offsets))

    return TextClassificationModel


# -- 3. char-level LSTM language model (PyTorch's word_language_model example) -------------


def define_char_lstm(torch, nn, F):
    class RNNModel(nn.Module):
        def __init__(self, ntoken, ninp, nhid, nlayers):
            super().__init__()
            self.ntoken, self.nhid, self.nlayers = ntoken, nhid, nlayers
            self.encoder = nn.Embedding(ntoken, ninp)
            self.rnn = nn.LSTM(ninp, nhid, nlayers)
            self.decoder = nn.Linear(nhid, ntoken)
            initrange = 0.1
            nn.init.uniform_(self.encoder.weight, -initrange, initrange)
            nn.init.zeros_(self.decoder.bias)
            nn.init.uniform_(self.decoder.weight, -initrange, initrange)

        def forward(self, input, hidden):
            emb = self.encoder(input)
            output, hidden = self.rnn(emb, hidden)
            decoded = self.decoder(output).view(-1, self.ntoken)
            return F.log_softmax(decoded, dim=1), hidden

        def init_hidden(self, bsz):
            weight = next(self.parameters())
            return (
                weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid),
            )

        # ember: the carried hidden state replaces `hidden = repackage_hidden(hidden)`
        def training_step(self, batch, carry):
            data, targets = batch
            hidden = carry if carry is not None else self.init_hidden(data.shape[1])
            output, hidden = self(data, hidden)
            loss = F.nll_loss(output, targets.reshape(-1))
            return {"loss": loss, "carry": hidden}

    return RNNModel


# -- 4. nanoGPT (karpathy/nanoGPT model.py, trimmed) ----------------------------------------


@dataclass
class GPTConfig:
    block_size: int = 8
    vocab_size: int = 32
    n_layer: int = 2
    n_head: int = 2
    n_embd: int = 16
    dropout: float = 0.0
    bias: bool = True
    flash: bool = False  # False: the explicit causal-mask buffer path


def define_gpt(torch, nn, F):
    class LayerNorm(nn.Module):
        def __init__(self, ndim, bias):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(ndim))
            self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

        def forward(self, input):
            return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)

    class CausalSelfAttention(nn.Module):
        def __init__(self, config):
            super().__init__()
            assert config.n_embd % config.n_head == 0
            self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
            self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
            self.attn_dropout = nn.Dropout(config.dropout)
            self.resid_dropout = nn.Dropout(config.dropout)
            self.n_head = config.n_head
            self.n_embd = config.n_embd
            self.dropout = config.dropout
            self.flash = config.flash
            if not self.flash:
                n = config.block_size
                self.register_buffer("bias", torch.tril(torch.ones(n, n)).view(1, 1, n, n))

        def forward(self, x):
            B, T, C = x.size()
            q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
            k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            if self.flash:
                y = F.scaled_dot_product_attention(
                    q,
                    k,
                    v,
                    attn_mask=None,
                    dropout_p=self.dropout if self.training else 0,
                    is_causal=True,
                )
            else:
                att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
                att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
                att = F.softmax(att, dim=-1)
                att = self.attn_dropout(att)
                y = att @ v
            y = y.transpose(1, 2).contiguous().view(B, T, C)
            return self.resid_dropout(self.c_proj(y))

    class MLP(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
            self.gelu = nn.GELU()
            self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
            self.dropout = nn.Dropout(config.dropout)

        def forward(self, x):
            return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))

    class Block(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
            self.attn = CausalSelfAttention(config)
            self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
            self.mlp = MLP(config)

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self, config):
            super().__init__()
            self.config = config
            self.transformer = nn.ModuleDict(
                dict(
                    wte=nn.Embedding(config.vocab_size, config.n_embd),
                    wpe=nn.Embedding(config.block_size, config.n_embd),
                    drop=nn.Dropout(config.dropout),
                    h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                    ln_f=LayerNorm(config.n_embd, bias=config.bias),
                )
            )
            self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
            self.transformer.wte.weight = self.lm_head.weight  # weight tying
            self.apply(self._init_weights)
            for pn, p in self.named_parameters():
                if pn.endswith("c_proj.weight"):
                    torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

        def _init_weights(self, module):
            if isinstance(module, nn.Linear):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
                if module.bias is not None:
                    torch.nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

        def forward(self, idx, targets=None):
            device = idx.device
            b, t = idx.size()
            assert t <= self.config.block_size
            pos = torch.arange(0, t, dtype=torch.long, device=device)
            tok_emb = self.transformer.wte(idx)
            pos_emb = self.transformer.wpe(pos)
            x = self.transformer.drop(tok_emb + pos_emb)
            for block in self.transformer.h:
                x = block(x)
            x = self.transformer.ln_f(x)
            if targets is not None:
                logits = self.lm_head(x)
                loss = F.cross_entropy(
                    logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1
                )
            else:
                logits = self.lm_head(x[:, [-1], :])
                loss = None
            return logits, loss

        def configure_optimizers(self, weight_decay, learning_rate, betas, optim):
            param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
            decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
            nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
            optim_groups = [
                {"params": decay_params, "weight_decay": weight_decay},
                {"params": nodecay_params, "weight_decay": 0.0},
            ]
            return optim.AdamW(optim_groups, lr=learning_rate, betas=betas, fused=False)

    return GPT


# -- 5. VAE (PyTorch's examples/vae, smaller) ----------------------------------------------


def define_vae(torch, nn, F):
    def loss_function(recon_x, x, mu, logvar):
        bce = F.binary_cross_entropy(recon_x, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce, kld

    class VAE(nn.Module):
        def __init__(self, d_in=24, d_hidden=16, d_latent=4):
            super().__init__()
            self.fc1 = nn.Linear(d_in, d_hidden)
            self.fc21 = nn.Linear(d_hidden, d_latent)
            self.fc22 = nn.Linear(d_hidden, d_latent)
            self.fc3 = nn.Linear(d_latent, d_hidden)
            self.fc4 = nn.Linear(d_hidden, d_in)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar, eps=None):
            std = torch.exp(0.5 * logvar)
            if eps is None:
                eps = torch.randn_like(std)
            return mu + eps * std

        def decode(self, z):
            return torch.sigmoid(self.fc4(F.relu(self.fc3(z))))

        def forward(self, x, eps=None):
            mu, logvar = self.encode(x)
            z = self.reparameterize(mu, logvar, eps)
            return self.decode(z), mu, logvar

        def training_step(self, batch):
            x, eps = batch if isinstance(batch, (tuple, list)) else (batch, None)
            recon, mu, logvar = self(x, eps)
            bce, kld = loss_function(recon, x, mu, logvar)
            return {"loss": bce + kld, "bce": bce, "kld": kld}

    return VAE, loss_function


# -- 6. DCGAN (PyTorch's examples/dcgan, 16x16) ---------------------------------------------


def define_dcgan(torch, nn, F, nz=4, ngf=4, ndf=4, nc=1):
    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
                nn.Tanh(),
            )

        def forward(self, input):
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.main = nn.Sequential(
                nn.Conv2d(nc, ndf, 4, 2, 1, bias=False),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ndf * 2, 1, 4, 1, 0, bias=False),
                nn.Sigmoid(),
            )

        def forward(self, input):
            return self.main(input).view(-1, 1).squeeze(1)

    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find("Conv") != -1:
            torch.nn.init.normal_(m.weight, 0.0, 0.02)
        elif classname.find("BatchNorm") != -1:
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)

    # ember: the two halves of the DCGAN loop as modules with a training_step each
    class DiscriminatorStep(nn.Module):
        def __init__(self, netG, netD):
            super().__init__()
            self.netG, self.netD = netG, netD
            self.criterion = nn.BCELoss()

        def training_step(self, batch):
            real, noise = batch
            fake = self.netG(noise)
            ones = torch.ones(real.shape[0])
            zeros = torch.zeros(real.shape[0])
            err_real = self.criterion(self.netD(real), ones)
            err_fake = self.criterion(self.netD(fake.detach()), zeros)
            return {"loss": err_real + err_fake, "errD_real": err_real, "errD_fake": err_fake}

    class GeneratorStep(nn.Module):
        def __init__(self, netG, netD):
            super().__init__()
            self.netG, self.netD = netG, netD
            self.criterion = nn.BCELoss()

        def training_step(self, batch):
            _, noise = batch
            fake = self.netG(noise)
            return self.criterion(self.netD(fake), torch.ones(noise.shape[0]))

    return Generator, Discriminator, weights_init, DiscriminatorStep, GeneratorStep


# -- 7. a GAN without BatchNorm, as one module (fused) and as two step modules ---------------


def define_mlp_gan(torch, nn, F, nz=3, nx=4, hidden=8):
    def generator():
        return nn.Sequential(nn.Linear(nz, hidden), nn.ReLU(), nn.Linear(hidden, nx))

    def discriminator():
        return nn.Sequential(nn.Linear(nx, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def d_loss(G, D, real, noise):
        bce = F.binary_cross_entropy_with_logits
        with torch.no_grad():  # (the DCGAN uses fake.detach())
            fake = G(noise)
        ones, zeros = torch.ones(real.shape[0], 1), torch.zeros(real.shape[0], 1)
        return bce(D(real), ones) + bce(D(fake), zeros)

    def g_loss(G, D, noise):
        return F.binary_cross_entropy_with_logits(D(G(noise)), torch.ones(noise.shape[0], 1))

    class GAN(nn.Module):  # fused: em.compile(gan, optimizer={"d": opt_d, "g": opt_g})
        def __init__(self, G, D):
            super().__init__()
            self.G, self.D = G, D

        def training_step(self, batch):
            real, noise = batch
            return {"d": d_loss(self.G, self.D, real, noise), "g": g_loss(self.G, self.D, noise)}

    class DStep(nn.Module):
        def __init__(self, G, D):
            super().__init__()
            self.G, self.D = G, D

        def training_step(self, batch):
            real, noise = batch
            return d_loss(self.G, self.D, real, noise)

    class GStep(nn.Module):
        def __init__(self, G, D):
            super().__init__()
            self.G, self.D = G, D

        def training_step(self, batch):
            return g_loss(self.G, self.D, batch[1])

    return generator, discriminator, d_loss, g_loss, GAN, DStep, GStep
