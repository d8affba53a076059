"""Offline stand-ins for the Hugging Face Hub repositories that upstream's SD3-family and loader tests read.

`make upstream-suite` runs upstream's own tests with no network. The repositories those tests load are replaced by
tiny, random-weight copies built here in code and installed into a Hugging Face hub cache
(`<out>/hub/models--org--name/{blobs,snapshots/<commit>,refs/main,trees/<commit>.json}`): with
`HF_HUB_OFFLINE=1 HF_HUB_CACHE=<out>/hub`, transformers' and diffusers' `from_pretrained` (and diffusers'
`DiffusionPipeline.download`, which reads the cached tree listing) find them.

    python -m forktools.upstream.hub_standins OUT_DIR [--only REPO ...]

Build with the transformers the tests will run with (tokenizer files differ between 4.x and 5) and with the pristine
diffusers first on PYTHONPATH (configs record `_diffusers_version`). Nothing is downloaded: tokenizers are built in
code, weights are random (seeded), so the tests' hard-coded expected slices fail; everything shape-, config- and
loader-related behaves as with the real repositories. Repositories whose tests cannot pass offline anyway have no
stand-in: those the tests download into a fresh cache_dir, and hf-internal-testing/diffusers-dummy-pipeline (its tests
load it with `custom_pipeline=`, for which diffusers calls `model_info()`, which fails offline). The other
remote-code repositories are kept: their tests pass offline with huggingface_hub 0.x (line 0.39), not with 1.x and
later (line 0.42). What each repository holds, and the guesses about the real ones (marked GUESS), are in
hub_standins.toml; the code builds them.
"""

import argparse
import codecs
import collections
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import tomllib

import torch


LFS_SUFFIXES = (".bin", ".safetensors", ".msgpack", ".onnx", ".pb", ".pt", ".pth", ".npy", ".dduf", ".model")
# hub_standins.toml, beside this file: {repository: how its stand-in is built}, in build order, and tokenizer data.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hub_standins.toml"), "rb") as _f:
    DATA = tomllib.load(_f)
REPOS = DATA["repos"]


# ---------------------------------------------------------------------------------------------------- hub cache
def install_repo(hub_dir, repo_id, folder, commit=None):
    """Copy `folder` into the hub cache as model repo `repo_id` at `commit` (derived from the content if not given)."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder).replace(os.sep, "/")] = f.read()
    files.setdefault(
        ".gitattributes",
        b"*.bin filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n",
    )
    if commit is None:
        digest = hashlib.sha1(repo_id.encode())
        for rel in sorted(files):
            digest.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
        commit = digest.hexdigest()
    storage = os.path.join(hub_dir, "models--" + repo_id.replace("/", "--"))
    shutil.rmtree(storage, ignore_errors=True)
    snapshot = os.path.join(storage, "snapshots", commit)
    for sub in ("blobs", "refs", "trees"):
        os.makedirs(os.path.join(storage, sub))
    tree = {}
    for rel, data in sorted(files.items()):
        git_sha1 = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        entry = {"size": len(data), "blob_id": git_sha1}
        etag = git_sha1
        if rel.endswith(LFS_SUFFIXES):
            etag = hashlib.sha256(data).hexdigest()
            entry.update(lfs_sha256=etag, lfs_size=len(data))
        tree[rel] = entry
        blob = os.path.join(storage, "blobs", etag)
        with open(blob, "wb") as f:
            f.write(data)
        target = os.path.join(snapshot, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(os.path.relpath(blob, os.path.dirname(target)), target)
    with open(os.path.join(storage, "refs", "main"), "w") as f:
        f.write(commit)
    with open(os.path.join(storage, "trees", f"{commit}.json"), "w") as f:
        json.dump({"format_version": 1, "files": tree}, f, indent=1)
    return commit, sorted(files)


# ---------------------------------------------------------------------------------------------------- tokenizers
PROMPTS = (
    "A painting of a squirrel eating a burger. An astronaut riding a green horse. A photo of a cat, hello, test, "
    "hey, a prompt, a dog sitting on a bench, high quality, best quality, low resolution, blurry, ugly, "
)
LETTERS = "etaoinshrdlcumwfgypbvkjxqz"
ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()/<>*_[]{}#&%+=@$|"
CLIP_VOCAB_SIZE = REPOS["hf-internal-testing/tiny-random-clip"]["config"]["text_config"]["vocab_size"]
CLIP_MAX_LENGTH = 77
T5_PIECES = 1000  # GUESS: 1000 sentencepiece pieces + 100 <extra_id_*> = 1100 tokens (< vocab_size 1103)
T5_VOCAB_SIZE = REPOS["hf-internal-testing/tiny-random-t5"]["config"]["vocab_size"]


def _corpus():
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen of Python
        import this as zen
    return (PROMPTS * 3 + codecs.decode(zen.s, "rot13")).lower()


def _write_bpe(folder, vocab, merges):
    """vocab.json and merges.txt of a BPE tokenizer in `folder`; returns their paths."""
    os.makedirs(folder, exist_ok=True)
    paths = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    with open(paths[0], "w") as f:
        json.dump(vocab, f)
    with open(paths[1], "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return paths


def clip_vocab_and_merges(vocab_size=CLIP_VOCAB_SIZE):
    """Byte-level CLIP BPE: 256 bytes, 256 bytes + '</w>', merges learned by the `tokenizers` trainer, the 2 specials.

    The trainer learns on the corpus' words and on every end-of-word letter bigram (without them it stops at about
    300 merges). Its own `end_of_word_suffix` numbers the '</w>' symbols in hash order, which breaks ties between
    equally frequent pairs differently from run to run: a word's last symbol is given to it as a private-use character
    of the initial alphabet instead (the trainer numbers the alphabet in order), then turned back into symbol + '</w>'.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_symbols = bytes_to_unicode()
    symbols = list(byte_symbols.values())
    last = {symbol: chr(0xE000 + i) for i, symbol in enumerate(symbols)}  # stands for symbol + '</w>'
    restore = str.maketrans({char: symbol + "</w>" for symbol, char in last.items()})
    words = re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", _corpus()) + [a + b for a in LETTERS for b in LETTERS]
    encoded = ["".join(byte_symbols[b] for b in word.encode("utf-8")) for word in words]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 2, initial_alphabet=symbols + list(last.values()), show_progress=False
    )
    backend.train_from_iterator([" ".join(word[:-1] + last[word[-1]] for word in encoded)], trainer)
    merges = [(a.translate(restore), b.translate(restore)) for a, b in _merges(backend)]
    vocab = symbols + [s + "</w>" for s in symbols] + [a + b for a, b in merges] + ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == vocab_size, len(vocab)
    return {token: i for i, token in enumerate(vocab)}, merges


def save_clip_tokenizer(folder):
    """The CLIP tokenizer of tiny-random-clip: CLIP_VOCAB_SIZE tokens, <|startoftext|> and <|endoftext|> last."""
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer(*_write_bpe(folder, *clip_vocab_and_merges()), model_max_length=CLIP_MAX_LENGTH)
    tokenizer.save_pretrained(folder)  # keeps vocab.json and merges.txt, as the real repo ships them
    assert len(tokenizer) == CLIP_VOCAB_SIZE
    return tokenizer


def t5_pieces():
    """The Unigram pieces of the T5 stand-in: <pad> </s> <unk>, characters, the corpus' words, letter bigrams."""
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -3.0)]
    pieces += [(c, -8.0) for c in ASCII[:-1]]
    words = collections.Counter(re.findall(r"[a-z]+", _corpus()))
    for word, count in sorted(words.items(), key=lambda x: (-x[1], x[0])):
        pieces.append(("\u2581" + word, -2.0 - 1.0 / count))
    fill = ["\u2581" + a for a in LETTERS] + [a + b for a in LETTERS for b in LETTERS]
    seen = {p for p, _ in pieces}
    for piece in fill + ["\u2581" + a + b for a in LETTERS for b in LETTERS]:
        if len(pieces) < T5_PIECES and piece not in seen:
            pieces.append((piece, -6.0))
            seen.add(piece)
    return pieces


def _unigram(pieces, unk_id, single, pair, specials):
    """A `tokenizers` Unigram tokenizer over whitespace-split, Metaspace-prefixed words."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    backend = Tokenizer(models.Unigram(pieces, unk_id=unk_id))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(single=single, pair=pair, special_tokens=specials)
    return backend


def save_t5_tokenizer(folder):
    """A Unigram T5 tokenizer built with the `tokenizers` library (loads with AutoTokenizer in transformers 4 and 5)."""
    from transformers import T5TokenizerFast

    backend = _unigram(t5_pieces(), 2, "$A </s>", "$A </s> $B </s>", [("</s>", 1)])
    tokenizer = T5TokenizerFast(
        tokenizer_object=backend, extra_ids=100, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        model_max_length=512,
    )  # fmt: skip
    tokenizer.save_pretrained(folder)
    assert len(tokenizer) <= T5_VOCAB_SIZE, len(tokenizer)
    return tokenizer


def learned_bpe(vocab_size, specials=(), byte_level=False):
    """(vocab, merges) of a BPE learned on the corpus by the `tokenizers` trainer, the specials first (ids 0, 1, ...).

    Metaspace ("\u2581word", sentencepiece-style: Llama, Gemma) or byte-level (GPT-2 style: Qwen2, RoBERTa) pieces.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    backend = Tokenizer(models.BPE())
    if byte_level:
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:
        backend.pre_tokenizer = pre_tokenizers.Metaspace()
        alphabet = list(ASCII + "\u2581")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(specials), initial_alphabet=sorted(alphabet), show_progress=False
    )
    backend.train_from_iterator([_corpus()], trainer)
    return json.loads(backend.to_str())["model"]["vocab"], _merges(backend)


def _merges(backend):
    """The merges of a trained `tokenizers` BPE, as pairs."""
    merges = json.loads(backend.to_str())["model"]["merges"]
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in merges]


NEEDS_TRANSFORMERS_5 = tuple(repo for repo, spec in REPOS.items() if spec.get("needs_transformers_5"))


def transformers_5():
    import transformers

    return int(transformers.__version__.split(".")[0]) >= 5


def save_llama_tokenizer(folder, vocab_size=500, **kwargs):
    """A Llama (sentencepiece-style BPE) tokenizer; transformers 5 builds its normalizer and decoder from vocab+merges."""
    from transformers import LlamaTokenizer

    vocab, merges = learned_bpe(vocab_size, ("<unk>", "<s>", "</s>"))
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, **kwargs)
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_gemma_tokenizer(folder, vocab_size=500, **kwargs):
    from transformers import GemmaTokenizer

    vocab, merges = learned_bpe(vocab_size, ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>"))
    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, **kwargs)
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_qwen2_tokenizer(folder, vocab_size=1000):
    """A byte-level Qwen2 tokenizer whose special tokens have the real Qwen2 ids (the vocabulary has a gap below)."""
    from transformers import Qwen2Tokenizer

    vocab, merges = learned_bpe(vocab_size, byte_level=True)
    qwen = DATA["tokenizers"]["qwen2"]
    vocab.update({token: qwen["first_special_id"] + i for i, token in enumerate(qwen["specials"])})
    tokenizer = Qwen2Tokenizer(
        *_write_bpe(folder, vocab, merges), unk_token=None, bos_token=None, eos_token="<|im_end|>",
        pad_token="<|endoftext|>", model_max_length=32768,
        additional_special_tokens=qwen["specials"][1:],
    )  # fmt: skip
    tokenizer.chat_template = qwen["chat_template"]
    tokenizer.save_pretrained(folder)
    assert tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655, tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return tokenizer


def save_roberta_tokenizer(folder, vocab_size=1000, **kwargs):
    from transformers import RobertaTokenizer

    vocab, merges = learned_bpe(vocab_size, ("<s>", "<pad>", "</s>", "<unk>"), byte_level=True)
    vocab["<mask>"] = len(vocab)
    tokenizer = RobertaTokenizer(*_write_bpe(folder, vocab, merges), **kwargs)
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_bert_tokenizer(folder):
    """A WordPiece BERT tokenizer: the specials, the characters, their ## forms and the corpus' words."""
    from transformers import BertTokenizer

    words = sorted(set(re.findall(r"[a-z]+", _corpus())))
    chars = sorted(set(ASCII.lower()))
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(4)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += chars + ["##" + c for c in chars] + [w for w in words if w not in chars]
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("".join(t + "\n" for t in tokens))
    tokenizer = BertTokenizer(os.path.join(folder, "vocab.txt"), model_max_length=512)
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_xlm_roberta_tokenizer(folder):
    """An XLM-R (Unigram) tokenizer: <s> <pad> </s> <unk>, the T5 stand-in's pieces, then <mask>."""
    from transformers import XLMRobertaTokenizerFast

    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + t5_pieces()[3:] + [("<mask>", 0.0)]
    backend = _unigram(pieces, 3, "<s> $A </s>", "<s> $A </s> </s> $B </s>", [("<s>", 0), ("</s>", 2)])
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", model_max_length=512,
    )  # fmt: skip
    tokenizer.save_pretrained(folder)
    return tokenizer


def save_chatglm_tokenizer(folder):
    """ChatGLM3's sentencepiece tokenizer.model, trained here on the corpus (the sentencepiece trainer needs no
    download), and the diffusers ChatGLMTokenizer config."""
    import sentencepiece

    from diffusers.pipelines.kolors import ChatGLMTokenizer

    lines = [line.strip() for line in re.split(r"[.,\n]", _corpus()) if line.strip()]
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=300, model_type="bpe", num_threads=1,
        minloglevel=2, hard_vocab_limit=False, character_coverage=1.0, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
    )  # fmt: skip
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer.model"), "wb") as f:
        f.write(model.getvalue())
    tokenizer = ChatGLMTokenizer(vocab_file=os.path.join(folder, "tokenizer.model"))
    tokenizer.save_pretrained(folder)
    return tokenizer


# ---------------------------------------------------------------------------------------------------- models
def safetensors_to_bin(folder):
    """Convert every *.safetensors (and its index) under `folder` to the PyTorch .bin layout, removing the original."""
    from safetensors.torch import load_file

    def binary_name(name):
        new = name.replace("model.safetensors", "model.bin").replace(".safetensors", ".bin")
        return "pytorch_" + new if name.startswith("model") else new

    renames = {}
    for root, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".safetensors"):
                renames[name] = binary_name(name)
                torch.save(load_file(os.path.join(root, name)), os.path.join(root, renames[name]))
                os.remove(os.path.join(root, name))
    for root, _, names in os.walk(folder):
        for name in names:
            if ".safetensors.index" in name:
                path = os.path.join(root, name)
                with open(path) as f:
                    index = json.load(f)
                index["weight_map"] = {k: renames.get(v, v) for k, v in index["weight_map"].items()}
                new = name.replace("model.safetensors.index", "model.bin.index")
                with open(os.path.join(root, "pytorch_" + new if name.startswith("model") else new), "w") as f:
                    json.dump(index, f, indent=2)
                os.remove(path)


def init_normal(model, seed=0, std=0.02):
    """Seeded N(0, std) weights, norms' weights 1 and biases 0: for models whose `_init_weights` does nothing (the
    diffusers ChatGLM would save torch.empty garbage)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            if param.ndim >= 2:
                param.copy_(torch.randn(param.shape, generator=generator) * std)
            elif name.endswith("bias"):
                param.zero_()
            else:
                param.fill_(1.0)
    return model


def clip_text_config(**kw):
    """The text tower of tiny-random-clip, the tiny CLIP text encoder of the pipelines (and tests) below."""
    from transformers import CLIPTextConfig

    return CLIPTextConfig(**dict(REPOS["hf-internal-testing/tiny-random-clip"]["config"]["text_config"], **kw))


def t5_config():
    """tiny-random-t5's config, the tiny T5 of the pipelines (and tests) below."""
    from transformers import T5Config

    return T5Config(**REPOS["hf-internal-testing/tiny-random-t5"]["config"])


UMT5_KEYS = tuple(REPOS["hf-internal-testing/tiny-random-umt5"]["config_keys"])  # what UMT5Config takes of T5's


def tiny_sd_vae():
    """The 4-channel AutoencoderKL of the SD and SDXL fast tests' dummy components (seed 0)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    return AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, sample_size=128,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
    )  # fmt: skip


def sd_components(clip_folder):
    """A tiny StableDiffusionPipeline's components with a safety checker (128x128 images)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPTextModel, CLIPTokenizer

    from diffusers import PNDMScheduler, UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=64, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )  # fmt: skip
    vae = tiny_sd_vae()
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(clip_text_config()).eval()
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
        skip_prk_steps=True, set_alpha_to_one=False, steps_offset=1,
    )  # fmt: skip
    torch.manual_seed(0)
    tower = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2)
    checker_config = CLIPConfig(
        text_config=dict(tower, vocab_size=CLIP_VOCAB_SIZE, bos_token_id=0, eos_token_id=2, pad_token_id=1),
        vision_config=dict(tower, image_size=32, patch_size=4),
        projection_dim=32,
    )
    return dict(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(clip_folder),
        scheduler=scheduler, safety_checker=StableDiffusionSafetyChecker(checker_config).eval(),
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32), image_encoder=None,
    )  # fmt: skip


def sd3_components(clip_folder, t5_folder):
    """The SD3 fast tests' get_dummy_components(), with the stand-in tokenizers."""
    from transformers import AutoTokenizer, CLIPTextModelWithProjection, CLIPTokenizer, T5EncoderModel

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel

    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=32, patch_size=1, in_channels=4, num_layers=1, attention_head_dim=8, num_attention_heads=4,
        caption_projection_dim=32, joint_attention_dim=32, pooled_projection_dim=64, out_channels=4,
    )  # fmt: skip
    clip_config = clip_text_config(hidden_act="gelu", projection_dim=32)
    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(clip_config).eval()
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(clip_config).eval()
    torch.manual_seed(0)
    text_encoder_3 = T5EncoderModel(t5_config()).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=4,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
        scaling_factor=1.5035,
    )  # fmt: skip
    return dict(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder, text_encoder_2=text_encoder_2,
        text_encoder_3=text_encoder_3, tokenizer=CLIPTokenizer.from_pretrained(clip_folder),
        tokenizer_2=CLIPTokenizer.from_pretrained(clip_folder), tokenizer_3=AutoTokenizer.from_pretrained(t5_folder),
        transformer=transformer, vae=vae, image_encoder=None, feature_extractor=None,
    )  # fmt: skip


def flux_components(clip_folder, t5_folder):
    """The Flux fast tests' get_dummy_components(), with the stand-in tokenizers."""
    from transformers import AutoTokenizer, CLIPTextModel, CLIPTokenizer, T5EncoderModel

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxTransformer2DModel

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1, in_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
        joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8],
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(clip_text_config(hidden_act="gelu", projection_dim=32)).eval()
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(t5_config()).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1, latent_channels=1,
        norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False, shift_factor=0.0609,
        scaling_factor=1.5035,
    )  # fmt: skip
    return dict(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder, text_encoder_2=text_encoder_2,
        tokenizer=CLIPTokenizer.from_pretrained(clip_folder), tokenizer_2=AutoTokenizer.from_pretrained(t5_folder),
        transformer=transformer, vae=vae, image_encoder=None, feature_extractor=None,
    )  # fmt: skip


def wan_components(clip_folder, t5_folder):
    """The Wan fast tests' get_dummy_components(), with the UMT5 encoder WanPipeline declares."""
    from transformers import AutoTokenizer, UMT5Config, UMT5EncoderModel

    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanTransformer3DModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    torch.manual_seed(0)
    umt5 = UMT5Config(**{k: v for k, v in t5_config().to_dict().items() if k in UMT5_KEYS})
    text_encoder = UMT5EncoderModel(umt5).eval()
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )  # fmt: skip
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder=text_encoder, tokenizer=AutoTokenizer.from_pretrained(t5_folder), transformer_2=None,
    )  # fmt: skip


def qwenimage_components(clip_folder, t5_folder):
    """The QwenImage fast tests' get_dummy_components(), with the Qwen2 stand-in tokenizer."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2Tokenizer

    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageTransformer2DModel

    qwen_folder = os.path.join(os.path.dirname(clip_folder), "qwen2")
    if not os.path.isdir(qwen_folder):
        save_qwen2_tokenizer(qwen_folder)
    torch.manual_seed(0)
    transformer = QwenImageTransformer2DModel(
        patch_size=2, in_channels=16, out_channels=4, num_layers=2, attention_head_dim=16, num_attention_heads=3,
        joint_attention_dim=16, guidance_embeds=False, axes_dims_rope=(8, 4, 4),
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLQwenImage(
        base_dim=24, z_dim=4, dim_mult=[1, 2, 4], num_res_blocks=1, temperal_downsample=[False, True],
        latents_mean=[0.0] * 4, latents_std=[1.0] * 4,
    )  # fmt: skip
    torch.manual_seed(0)
    config = Qwen2_5_VLConfig(**DATA["configs"]["qwen2_5_vl"])
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=Qwen2_5_VLForConditionalGeneration(config).eval(),
        tokenizer=Qwen2Tokenizer.from_pretrained(qwen_folder),
    )  # fmt: skip


def ddpm_components():
    from diffusers import DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=3, out_channels=3,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    )  # fmt: skip
    return dict(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000))


def sdxl_components(clip_folder):
    """The SDXL fast tests' get_dummy_components() (64x64 images)."""
    from transformers import CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from diffusers import EulerDiscreteScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(2, 4), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=1,
    )  # fmt: skip
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="scaled_linear", timestep_spacing="leading"
    )
    vae = tiny_sd_vae()
    torch.manual_seed(0)
    config = clip_text_config(hidden_act="gelu", projection_dim=32)
    return dict(
        unet=unet, scheduler=scheduler, vae=vae, text_encoder=CLIPTextModel(config).eval(),
        tokenizer=CLIPTokenizer.from_pretrained(clip_folder), text_encoder_2=CLIPTextModelWithProjection(config).eval(),
        tokenizer_2=CLIPTokenizer.from_pretrained(clip_folder), image_encoder=None, feature_extractor=None,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------- repositories
def write_modular_index(folder, repo, blocks_class, pipeline_class):
    """modular_model_index.json for the pipeline saved in `folder`: each component loads from `repo`'s subfolder."""
    with open(os.path.join(folder, "model_index.json")) as f:
        index = json.load(f)
    modular = {
        "_blocks_class_name": blocks_class,
        "_class_name": pipeline_class,
        "_diffusers_version": index["_diffusers_version"],
    }
    for name, value in index.items():
        if isinstance(value, list) and len(value) == 2 and value[0] is not None:
            spec = dict(pretrained_model_name_or_path=repo, revision=None, subfolder=name, type_hint=value)
            modular[name] = [value[0], value[1], dict(spec, variant=None)]
    with open(os.path.join(folder, "modular_model_index.json"), "w") as f:
        json.dump(modular, f, indent=2, sort_keys=True)


def _class(name):
    """A class named in hub_standins.toml: "Name" of transformers, or "module:Name"."""
    import importlib

    module, _, name = name.rpartition(":")
    return getattr(importlib.import_module(module or "transformers"), name)


def _with_length(config, tokenizer):
    """`config` with each "len(tokenizer)" value, nested ones too, replaced by the tokenizer's length."""
    if isinstance(config, dict):
        return {k: _with_length(v, tokenizer) for k, v in config.items()}
    return len(tokenizer) if config == "len(tokenizer)" else config


def build_repo(folder, spec):
    """The stand-in of a hub_standins.toml entry with neither `pipeline` nor `builder`: tokenizer, processor, model."""
    tokenizer = None
    if "tokenizer" in spec:
        save = globals()[f"save_{spec['tokenizer']}_tokenizer"]
        tokenizer = save(os.path.join(folder, spec.get("tokenizer_subfolder", "")), **spec.get("tokenizer_kwargs", {}))
    if "processor" in spec:
        kwargs = dict(spec["processor"])
        cls = _class(kwargs.pop("class"))
        if "image_processor" in kwargs:  # a processor of images and text: the tokenizer and its chat template
            kwargs.update(
                image_processor=_class(kwargs["image_processor"])(),
                tokenizer=tokenizer,
                chat_template=tokenizer.chat_template,
            )
        try:
            cls(**kwargs).save_pretrained(folder)
        except Exception as error:  # a video processor that needs torchvision, ...
            if "tokenizer" not in kwargs:
                raise
            print(f"{folder}: no processor ({type(error).__name__}: {error})", file=sys.stderr)
    config, keys = spec.get("config", {}), spec.get("config_keys")
    if isinstance(config, str):  # another repository's
        config = {k: v for k, v in REPOS[config]["config"].items() if keys is None or k in keys}
    config = _with_length(config, tokenizer)
    if "config_class" in spec:
        _class(spec["config_class"])(**config).save_pretrained(folder)
    if "model" in spec:
        cls = _class(spec["model"])
        torch.manual_seed(0)
        model = cls(cls.config_class(**config))
        if spec.get("init") == "normal":
            init_normal(model)
        model.eval().save_pretrained(folder)


PIPELINES = {  # hub_standins.toml's `pipeline`: the diffusers class, its components with the stand-in tokenizers
    "sd": ("StableDiffusionPipeline", lambda clip, t5: sd_components(clip)),
    "sd3": ("StableDiffusion3Pipeline", sd3_components),
    "sdxl": ("StableDiffusionXLPipeline", lambda clip, t5: sdxl_components(clip)),
    "ddpm": ("DDPMPipeline", lambda clip, t5: ddpm_components()),
    "flux": ("FluxPipeline", flux_components),
    "flux_kontext": ("FluxKontextPipeline", flux_components),
    "wan": ("WanPipeline", wan_components),
    "qwenimage": ("QwenImagePipeline", qwenimage_components),
}


def build_pipeline(folder, repo, spec, clip, t5):
    """The stand-in of a hub_standins.toml entry with a `pipeline`."""
    import diffusers

    cls, components = PIPELINES[spec["pipeline"]]
    pipe = getattr(diffusers, cls)(**components(clip, t5))
    pipe.save_pretrained(folder)
    if spec.get("weights") == "both":
        pipe.save_pretrained(folder + "-bin")
        safetensors_to_bin(folder + "-bin")
        shutil.copytree(folder + "-bin", folder, dirs_exist_ok=True)
    elif spec.get("weights") == "bin":
        safetensors_to_bin(folder)
    if "modular" in spec:
        write_modular_index(folder, repo, spec["modular"]["blocks"], spec["modular"]["pipeline"])
    for rel, text in spec.get("files", {}).items():
        os.makedirs(os.path.dirname(os.path.join(folder, rel)), exist_ok=True)
        with open(os.path.join(folder, rel), "w") as f:
            f.write(text)
    for rel, updates in spec.get("edits", {}).items():
        with open(os.path.join(folder, rel)) as f:
            data = json.load(f)
        with open(os.path.join(folder, rel), "w") as f:
            json.dump(dict(data, **updates), f, indent=2, sort_keys=True)


def build_sd_pipe_indexes(folder, clip):
    """SD weights in fp32 and as the fp16 variant, .safetensors and .bin, text encoder and safety checker sharded."""
    from diffusers import StableDiffusionPipeline

    for variant, dtype in ((None, torch.float32), ("fp16", torch.float16)):
        pipe = StableDiffusionPipeline(**sd_components(clip))
        pipe.to(dtype)
        for fmt in ("safetensors", "bin"):
            tmp = f"{folder}-{variant}-{fmt}"
            pipe.save_pretrained(tmp, variant=variant)
            for name in ("text_encoder", "safety_checker"):
                for f in os.listdir(os.path.join(tmp, name)):
                    if f.endswith(".safetensors"):
                        os.remove(os.path.join(tmp, name, f))
                getattr(pipe, name).save_pretrained(os.path.join(tmp, name), variant=variant, max_shard_size="100KB")
            if fmt == "bin":
                safetensors_to_bin(tmp)
            shutil.copytree(tmp, folder, dirs_exist_ok=True)


def build(out_dir, only=None):
    """Write the stand-ins of REPOS (or of `only`) into the hub cache `out_dir/hub`; returns {repo: (commit, files)}."""
    hub = os.path.join(out_dir, "hub")
    os.makedirs(hub, exist_ok=True)
    report = {}
    with tempfile.TemporaryDirectory(prefix="hub-standins-") as stage:
        # The pipelines' tokenizers, read from here.
        clip, t5 = os.path.join(stage, "clip"), os.path.join(stage, "t5")
        save_clip_tokenizer(clip)
        save_t5_tokenizer(t5)
        for repo, spec in REPOS.items():
            if (only is not None and repo not in only) or (spec.get("needs_transformers_5") and not transformers_5()):
                continue
            folder = os.path.join(stage, repo.replace("/", "--"))
            if "builder" in spec:
                globals()["build_" + spec["builder"]](folder, clip)
            elif "pipeline" in spec:
                build_pipeline(folder, repo, spec, clip, t5)
            else:
                build_repo(folder, spec)
            report[repo] = install_repo(hub, repo, folder, commit=spec.get("commit"))
            print(f"{repo}: {len(report[repo][1])} files, commit {report[repo][0]}")
    with open(os.path.join(out_dir, "standins.json"), "w") as f:
        json.dump({k: {"commit": v[0], "files": v[1]} for k, v in report.items()}, f, indent=1, sort_keys=True)
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m forktools.upstream.hub_standins", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("out_dir", help="folder to create; the hub cache goes to OUT_DIR/hub")
    parser.add_argument("--only", nargs="*", choices=REPOS, help="build only these repositories")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import diffusers
    import transformers

    print(
        f"stand-ins with diffusers {diffusers.__version__} ({diffusers.__file__}), transformers "
        f"{transformers.__version__}",
        file=sys.stderr,
    )
    build(args.out_dir, only=set(args.only) if args.only else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
