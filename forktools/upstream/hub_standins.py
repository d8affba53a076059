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
later (line 0.42). Guesses about the real repositories, which cannot be checked offline, are marked GUESS.
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
# The repositories built: the data of `make upstream-suite` (suite.toml, beside this file).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "suite.toml"), "rb") as _f:
    REPOS = tuple(tomllib.load(_f)["hub_repos"])


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
CLIP_VOCAB_SIZE = 1000  # GUESS: the real tiny-random-clip tokenizer has 1000 tokens (the tests' CLIP encoders use
# vocab_size=1000, and test_pipelines' textual-inversion tests need len(tokenizer) == text encoder vocab).
CLIP_MAX_LENGTH = 77
T5_PIECES = 1000  # GUESS: 1000 sentencepiece pieces + 100 <extra_id_*> = 1100 tokens (< vocab_size 1103)
T5_VOCAB_SIZE = 1103  # GUESS (from memory of the real config); only needs to exceed len(tokenizer)


def _corpus():
    with contextlib.redirect_stdout(io.StringIO()):  # `import this` prints the Zen of Python
        import this as zen
    return (PROMPTS * 3 + codecs.decode(zen.s, "rot13")).lower()


def clip_vocab_and_merges(vocab_size=CLIP_VOCAB_SIZE):
    """Byte-level CLIP BPE: 256 bytes, 256 bytes + '</w>', merges learned on a small corpus, then the 2 specials."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    b2u = bytes_to_unicode()
    vocab = list(b2u.values()) + [c + "</w>" for c in b2u.values()]
    n_merges = vocab_size - len(vocab) - 2
    seqs = {}
    for word, count in collections.Counter(re.findall(r"[a-z]+|[0-9]|[^\sa-z0-9]+", _corpus())).items():
        syms = [b2u[b] for b in word.encode("utf-8")]
        syms[-1] += "</w>"
        seqs[tuple(syms)] = count
    merges, known = [], set(vocab)
    while len(merges) < n_merges:
        pairs = collections.Counter()
        for syms, count in seqs.items():
            for pair in zip(syms, syms[1:]):
                pairs[pair] += count
        pairs = {p: c for p, c in pairs.items() if p[0] + p[1] not in known}
        if not pairs:
            break
        best = max(sorted(pairs), key=lambda p: pairs[p])
        merges.append(best)
        known.add(best[0] + best[1])
        vocab.append(best[0] + best[1])
        merged = {}
        for syms, count in seqs.items():
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and (syms[i], syms[i + 1]) == best:
                    out.append(syms[i] + syms[i + 1])
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        seqs = merged
    for a in LETTERS:  # deterministic filler: end-of-word letter bigrams
        for b in LETTERS:
            if len(merges) < n_merges and a + b + "</w>" not in known:
                merges.append((a, b + "</w>"))
                known.add(a + b + "</w>")
                vocab.append(a + b + "</w>")
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    assert len(vocab) == vocab_size, len(vocab)
    return {token: i for i, token in enumerate(vocab)}, merges


def save_clip_tokenizer(folder):
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocab_and_merges()
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = CLIPTokenizer(
        os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"), model_max_length=CLIP_MAX_LENGTH
    )
    tokenizer.save_pretrained(folder)  # keeps vocab.json and merges.txt, as the real repo ships them
    assert len(tokenizer) == CLIP_VOCAB_SIZE
    return tokenizer


def save_t5_tokenizer(folder):
    """A Unigram T5 tokenizer built with the `tokenizers` library (loads with AutoTokenizer in transformers 4 and 5)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -3.0)]
    pieces += [
        (c, -8.0) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()/<>*_[]{}#&%+=@$"
    ]
    words = collections.Counter(re.findall(r"[a-z]+", _corpus()))
    for word, count in sorted(words.items(), key=lambda x: (-x[1], x[0])):
        pieces.append(("\u2581" + word, -2.0 - 1.0 / count))
    fill = ["\u2581" + a for a in LETTERS] + [a + b for a in LETTERS for b in LETTERS]
    seen = {p for p, _ in pieces}
    for piece in fill + ["\u2581" + a + b for a in LETTERS for b in LETTERS]:
        if len(pieces) < T5_PIECES and piece not in seen:
            pieces.append((piece, -6.0))
            seen.add(piece)
    backend = Tokenizer(models.Unigram(pieces, unk_id=2))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    tokenizer = T5TokenizerFast(
        tokenizer_object=backend, extra_ids=100, eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        model_max_length=512,
    )  # fmt: skip
    tokenizer.save_pretrained(folder)
    assert len(tokenizer) <= T5_VOCAB_SIZE, len(tokenizer)
    return tokenizer


ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,;:!?'\"-()/<>*_[]{}#&%+=@$|"
# Qwen2's special tokens at their ids in the real Qwen2/2.5-VL and Qwen3 vocabularies: the tests' text encoders use
# the real configs' image_token_id (151655) and vocab sizes (151936, 152064), so the ids must be the real ones.
QWEN_SPECIALS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>",
)  # fmt: skip
QWEN_FIRST_SPECIAL_ID = 151643
# GUESS: a Qwen2-VL style chat template (system prompt, images as <|vision_start|><|image_pad|><|vision_end|>) that
# also accepts Qwen3's `enable_thinking` (flux2 klein, hunyuan 1.5); the real templates are longer.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}"
    "<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)


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
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges


# Their tokenizers are built from vocab and merges, which only transformers 5's Llama, Gemma and Qwen2 tokenizer
# constructors take; with transformers 4 (the 0.39 line, whose tests do not read them) they have no stand-in.
NEEDS_TRANSFORMERS_5 = (
    "finetrainers/dummy-hunyaunvideo",
    "hf-internal-testing/tiny-random-LlamaForCausalLM",
    "hf-internal-testing/llama-tokenizer",
    "hf-internal-testing/dummy-gemma",
    "hf-internal-testing/tiny-random-Gemma3ForCausalLM",
    "hf-internal-testing/tiny-random-Qwen2VLForConditionalGeneration",
)


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
    vocab.update({token: QWEN_FIRST_SPECIAL_ID + i for i, token in enumerate(QWEN_SPECIALS)})
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = Qwen2Tokenizer(
        os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"), unk_token=None,
        bos_token=None, eos_token="<|im_end|>", pad_token="<|endoftext|>", model_max_length=32768,
        additional_special_tokens=list(QWEN_SPECIALS[1:]),
    )  # fmt: skip
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    assert tokenizer.convert_tokens_to_ids("<|image_pad|>") == 151655, tokenizer.convert_tokens_to_ids("<|image_pad|>")
    return tokenizer


def save_roberta_tokenizer(folder, vocab_size=1000, **kwargs):
    from transformers import RobertaTokenizer

    vocab, merges = learned_bpe(vocab_size, ("<s>", "<pad>", "</s>", "<unk>"), byte_level=True)
    vocab["<mask>"] = len(vocab)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    tokenizer = RobertaTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"), **kwargs)
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
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    with open(os.path.join(os.path.dirname(folder), "tiny-random-t5", "tokenizer.json")) as f:
        t5 = json.load(f)
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [tuple(p) for p in t5["model"]["vocab"][3:] if not p[0].startswith("<extra_id")] + [("<mask>", 0.0)]
    backend = Tokenizer(models.Unigram(pieces, unk_id=3))
    backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace()])
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
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


def save_model(model, folder, seed=0):
    torch.manual_seed(seed)
    model.eval().save_pretrained(folder)


def clip_text_config(**kw):
    from transformers import CLIPTextConfig

    cfg = dict(
        bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
        num_attention_heads=4, num_hidden_layers=5, pad_token_id=1, vocab_size=CLIP_VOCAB_SIZE,
    )  # fmt: skip
    cfg.update(kw)
    return CLIPTextConfig(**cfg)


def t5_config():
    from transformers import T5Config

    # GUESS: the transformers T5ModelTester shape (d_model 32 == SD3 tests' joint_attention_dim, cogview3 test:
    # "text_embed_dim=32  # Must match with tiny-random-t5"). initializer_factor=0.002 matters: the tests build
    # T5EncoderModel(config) in train mode, so dropout_rate 0.1 is active; with the default factor 1.0 two identical
    # SD3 calls differ by ~1e-3 and the pt/np/latents equivalence tests (tolerance 1e-4) fail, with 0.002 they pass.
    return T5Config(
        vocab_size=T5_VOCAB_SIZE, d_model=32, d_kv=8, d_ff=37, num_layers=5, num_decoder_layers=5, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.1, feed_forward_proj="relu", is_encoder_decoder=True,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, initializer_factor=0.002, layer_norm_epsilon=1e-06,
        architectures=["T5ForConditionalGeneration"],
    )  # fmt: skip


UMT5_KEYS = (
    "vocab_size", "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
    "relative_attention_num_buckets", "dropout_rate", "layer_norm_epsilon", "initializer_factor",
    "feed_forward_proj", "pad_token_id", "eos_token_id", "decoder_start_token_id",
)  # fmt: skip


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


def ddpm_pipeline():
    from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=3, out_channels=3,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"), up_block_types=("AttnUpBlock2D", "UpBlock2D"),
    )  # fmt: skip
    return DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000))


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


# Remote code of the custom-pipeline repositories. GUESS: modelled on upstream's tests/fixtures/custom_pipeline/
# pipeline.py; the tests check the class names, the image shape and the returned string.
CUSTOM_DDPM_PIPELINE = """
import torch

from diffusers import DiffusionPipeline, ImagePipelineOutput


class CustomPipeline(DiffusionPipeline):
    def __init__(self, unet, scheduler):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler)

    @torch.no_grad()
    def __call__(self, batch_size=1, generator=None, num_inference_steps=50, output_type="pil", return_dict=True,
                 **kwargs):
        size = self.unet.config.sample_size
        image = torch.randn((batch_size, self.unet.config.in_channels, size, size), generator=generator)
        image = image.to(self.device)
        self.scheduler.set_timesteps(num_inference_steps)
        for t in self.progress_bar(self.scheduler.timesteps):
            image = self.scheduler.step(self.unet(image, t).sample, t, image).prev_sample
        image = (image / 2 + 0.5).clamp(0, 1).cpu().permute(0, 2, 3, 1).numpy()
        if output_type == "pil":
            image = self.numpy_to_pil(image)
        if not return_dict:
            return (image,), "This is a test"
        return ImagePipelineOutput(images=image), "This is a test"
"""
SDXL_REMOTE_CODE = {  # file: (class, the diffusers class it subclasses)
    "unet/my_unet_model.py": ("MyUNetModel", "UNet2DConditionModel"),
    "scheduler/my_scheduler.py": ("MyScheduler", "EulerDiscreteScheduler"),
    "my_pipeline.py": ("MyPipeline", "StableDiffusionXLPipeline"),
}


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def _edit_json(path, **updates):
    with open(path) as f:
        data = json.load(f)
    data.update(updates)
    with open(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=True)


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


def build(out_dir, only=None):
    """Write the stand-ins of REPOS (or of `only`) into the hub cache `out_dir/hub`; returns {repo: (commit, files)}."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, T5ForConditionalGeneration

    from diffusers import StableDiffusion3Pipeline, StableDiffusionPipeline, StableDiffusionXLPipeline

    hub = os.path.join(out_dir, "hub")
    os.makedirs(hub, exist_ok=True)
    report = {}
    with tempfile.TemporaryDirectory(prefix="hub-standins-") as stage:

        def install(repo_id, folder, commit=None):
            if only is None or repo_id in only:
                report[repo_id] = install_repo(hub, repo_id, folder, commit=commit)
                print(f"{repo_id}: {len(report[repo_id][1])} files, commit {report[repo_id][0]}")

        def wanted(repo_id):
            if repo_id in NEEDS_TRANSFORMERS_5 and not transformers_5():
                return False
            return only is None or repo_id in only

        # Every pipeline below uses the two tokenizers, so they are always built.
        clip_dir, t5_dir = os.path.join(stage, "tiny-random-clip"), os.path.join(stage, "tiny-random-t5")
        save_clip_tokenizer(clip_dir)
        save_t5_tokenizer(t5_dir)

        # hf-internal-testing/tiny-random-clip: the CLIP tokenizer, a tiny CLIPModel and its image processor.
        if wanted("hf-internal-testing/tiny-random-clip"):
            torch.manual_seed(0)
            tower = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5)
            text = dict(tower, vocab_size=CLIP_VOCAB_SIZE, max_position_embeddings=CLIP_MAX_LENGTH, bos_token_id=0)
            config = CLIPConfig(
                text_config=dict(text, eos_token_id=2, pad_token_id=1),
                vision_config=dict(tower, image_size=30, patch_size=2),
                projection_dim=64,
            )
            CLIPModel(config).save_pretrained(clip_dir)
            CLIPImageProcessor(crop_size=30, size=30).save_pretrained(clip_dir)
            install("hf-internal-testing/tiny-random-clip", clip_dir)

        # hf-internal-testing/tiny-random-t5: T5 config, weights and tokenizer.
        if wanted("hf-internal-testing/tiny-random-t5"):
            torch.manual_seed(0)
            T5ForConditionalGeneration(t5_config()).save_pretrained(t5_dir)
            install("hf-internal-testing/tiny-random-t5", t5_dir)

        # AlanPonnachan/tiny-sd3-modular: GUESS: an SD3 pipeline saved from the SD3 fast tests' dummy components, with
        # a modular_model_index.json whose from_pretrained specs point at the repo itself (the modular tests'
        # get_specified_components() reads modular_model_index.json, so the real repo has one).
        repo = "AlanPonnachan/tiny-sd3-modular"
        if wanted(repo):
            folder = os.path.join(stage, "tiny-sd3-modular")
            StableDiffusion3Pipeline(**sd3_components(clip_dir, t5_dir)).save_pretrained(folder)
            write_modular_index(folder, repo, "StableDiffusion3AutoBlocks", "StableDiffusion3ModularPipeline")
            install(repo, folder)

        # hf-internal-testing/tiny-stable-diffusion-torch: SD 1.x pipeline, PNDM, safety checker, .bin weights.
        if wanted("hf-internal-testing/tiny-stable-diffusion-torch"):
            folder = os.path.join(stage, "tiny-stable-diffusion-torch")
            StableDiffusionPipeline(**sd_components(clip_dir)).save_pretrained(folder)
            safetensors_to_bin(folder)
            # GUESS: an SD-1.x style scheduler config that states clip_sample=false explicitly (test_pipelines'
            # test_set_scheduler_consistency round-trips it through LMS/DDIM and fails if it is only a default).
            _edit_json(os.path.join(folder, "scheduler", "scheduler_config.json"), clip_sample=False)
            install("hf-internal-testing/tiny-stable-diffusion-torch", folder)

        # hf-internal-testing/diffusers-stable-diffusion-tiny-all: .bin AND .safetensors weights, no variants, at the
        # commit test_pipelines.py hard-codes.
        if wanted("hf-internal-testing/diffusers-stable-diffusion-tiny-all"):
            folder, binaries = os.path.join(stage, "tiny-all"), os.path.join(stage, "tiny-all-bin")
            pipe = StableDiffusionPipeline(**sd_components(clip_dir))
            pipe.save_pretrained(folder)
            pipe.save_pretrained(binaries)
            safetensors_to_bin(binaries)
            shutil.copytree(binaries, folder, dirs_exist_ok=True)
            install(
                "hf-internal-testing/diffusers-stable-diffusion-tiny-all",
                folder,
                commit="07838d72e12f9bcec1375b0482b80c1d399be843",
            )

        # hf-internal-testing/tiny-stable-diffusion-pipe-indexes: fp32 and fp16-variant weights, .bin and
        # .safetensors, text encoder and safety checker sharded (index + shards).
        if wanted("hf-internal-testing/tiny-stable-diffusion-pipe-indexes"):
            folder = os.path.join(stage, "indexes")
            for variant, dtype in ((None, torch.float32), ("fp16", torch.float16)):
                pipe = StableDiffusionPipeline(**sd_components(clip_dir))
                pipe.to(dtype)
                for fmt in ("safetensors", "bin"):
                    tmp = os.path.join(stage, f"indexes-{variant}-{fmt}")
                    pipe.save_pretrained(tmp, variant=variant)
                    for name in ("text_encoder", "safety_checker"):
                        for f in os.listdir(os.path.join(tmp, name)):
                            if f.endswith(".safetensors"):
                                os.remove(os.path.join(tmp, name, f))
                        getattr(pipe, name).save_pretrained(
                            os.path.join(tmp, name), variant=variant, max_shard_size="100KB"
                        )
                    if fmt == "bin":
                        safetensors_to_bin(tmp)
                    shutil.copytree(tmp, folder, dirs_exist_ok=True)
            install("hf-internal-testing/tiny-stable-diffusion-pipe-indexes", folder)

        # google/ddpm-cifar10-32: DDPMPipeline (tiny UNet2DModel, 32x32).
        if wanted("google/ddpm-cifar10-32"):
            folder = os.path.join(stage, "ddpm-cifar10-32")
            ddpm_pipeline().save_pretrained(folder)
            install("google/ddpm-cifar10-32", folder)

        # akasharidas/ddpm-cifar10-32-dot.in.name: DDPM weights and a pipeline.py that model_index.json names.
        if wanted("akasharidas/ddpm-cifar10-32-dot.in.name"):
            folder = os.path.join(stage, "dot-in-name")
            ddpm_pipeline().save_pretrained(folder)
            _write(os.path.join(folder, "pipeline.py"), CUSTOM_DDPM_PIPELINE)
            _edit_json(os.path.join(folder, "model_index.json"), _class_name=["pipeline", "CustomPipeline"])
            install("akasharidas/ddpm-cifar10-32-dot.in.name", folder)

        # hf-internal-testing/tiny-sdxl-custom-components / -custom-all: SDXL with a remote-code unet and scheduler
        # (unet/my_unet_model.py, scheduler/my_scheduler.py) and my_pipeline.py; -all names the custom pipeline class
        # in model_index.json.
        for repo, class_name in (
            ("hf-internal-testing/tiny-sdxl-custom-components", "StableDiffusionXLPipeline"),
            ("hf-internal-testing/tiny-sdxl-custom-all", ["my_pipeline", "MyPipeline"]),
        ):
            if wanted(repo):
                folder = os.path.join(stage, repo.split("/")[1])
                StableDiffusionXLPipeline(**sdxl_components(clip_dir)).save_pretrained(folder)
                for rel, (name, base) in SDXL_REMOTE_CODE.items():
                    _write(
                        os.path.join(folder, rel),
                        f"from diffusers import {base}\n\n\nclass {name}({base}):\n    pass\n",
                    )
                _edit_json(os.path.join(folder, "unet", "config.json"), _class_name="MyUNetModel")
                _edit_json(os.path.join(folder, "scheduler", "scheduler_config.json"), _class_name="MyScheduler")
                _edit_json(
                    os.path.join(folder, "model_index.json"),
                    _class_name=class_name,
                    unet=["my_unet_model", "MyUNetModel"],
                    scheduler=["my_scheduler", "MyScheduler"],
                )
                install(repo, folder)

        # hf-internal-testing/tiny-sdxl-modular: GUESS: the SDXL fast tests' components (64x64 images, what the
        # modular SDXL tests expect) with a modular_model_index.json, as the SD3 one above.
        repo = "hf-internal-testing/tiny-sdxl-modular"
        if wanted(repo):
            folder = os.path.join(stage, "tiny-sdxl-modular")
            StableDiffusionXLPipeline(**sdxl_components(clip_dir)).save_pretrained(folder)
            write_modular_index(folder, repo, "StableDiffusionXLAutoBlocks", "StableDiffusionXLModularPipeline")
            install(repo, folder)

        # hf-internal-testing/tiny-random-chatglm3-6b: the Kolors tests' ChatGLM3 text encoder and tokenizer. Sizes
        # from the tests: the UNet's cross_attention_dim 8 and projection_class_embeddings_input_dim 56 (= 6 * 8 time
        # ids + the 8-wide pooled embedding) make hidden_size 8. GUESS: the other sizes (ChatGLM3's layout:
        # multi-query attention, qkv bias, original rope).
        repo = "hf-internal-testing/tiny-random-chatglm3-6b"
        if wanted(repo):
            from diffusers.pipelines.kolors.text_encoder import ChatGLMConfig, ChatGLMModel

            folder = os.path.join(stage, "tiny-random-chatglm3-6b")
            tokenizer = save_chatglm_tokenizer(folder)
            config = ChatGLMConfig(
                num_layers=2, padded_vocab_size=len(tokenizer), hidden_size=8, ffn_hidden_size=16, kv_channels=4,
                num_attention_heads=2, seq_length=256, multi_query_attention=True, multi_query_group_num=1,
                add_qkv_bias=True, original_rope=True, architectures=["ChatGLMModel"],
            )  # fmt: skip
            init_normal(ChatGLMModel(config)).save_pretrained(folder)
            install(repo, folder)

        # YiYiXu/tiny-random-mclip-base: the Kandinsky 2.1 tests' XLM-R tokenizer (their MCLIP has vocab_size 1005).
        repo = "YiYiXu/tiny-random-mclip-base"
        if wanted(repo):
            folder = os.path.join(stage, "tiny-random-mclip-base")
            save_xlm_roberta_tokenizer(folder)
            install(repo, folder)

        # hf-internal-testing/tiny-random-DPTForDepthEstimation: the depth2img tests' image processor (their DPT
        # depth estimator, built in code, has image_size 32). GUESS: 32x32, the rest DPTImageProcessor's defaults.
        repo = "hf-internal-testing/tiny-random-DPTForDepthEstimation"
        if wanted(repo):
            from transformers import DPTImageProcessor

            folder = os.path.join(stage, "tiny-random-DPTForDepthEstimation")
            DPTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
            install(repo, folder)

        # hf-internal-testing/tiny-random-BertModel: HunyuanDiT's Bert (cross_attention_dim 32 = hidden_size).
        # GUESS: the transformers BertModelTester shape (5 layers, 4 heads, intermediate 37).
        repo = "hf-internal-testing/tiny-random-BertModel"
        if wanted(repo):
            from transformers import BertConfig, BertModel

            folder = os.path.join(stage, "tiny-random-BertModel")
            tokenizer = save_bert_tokenizer(folder)
            torch.manual_seed(0)
            config = BertConfig(
                vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=5, num_attention_heads=4,
                intermediate_size=37, max_position_embeddings=512,
            )  # fmt: skip
            BertModel(config).eval().save_pretrained(folder)
            install(repo, folder)

        # hf-internal-testing/tiny-random-umt5: AuraFlow's UMT5 encoder (joint_attention_dim 32 = d_model; the tests
        # tokenize with tiny-random-t5's tokenizer, so the vocabulary is T5's).
        repo = "hf-internal-testing/tiny-random-umt5"
        if wanted(repo):
            from transformers import UMT5Config, UMT5EncoderModel

            folder = os.path.join(stage, "tiny-random-umt5")
            shutil.copytree(t5_dir, folder)
            for name in os.listdir(folder):
                if name.startswith(("model", "config", "generation")):
                    os.remove(os.path.join(folder, name))
            torch.manual_seed(0)
            config = UMT5Config(**{k: v for k, v in t5_config().to_dict().items() if k in UMT5_KEYS})
            UMT5EncoderModel(config).eval().save_pretrained(folder)
            install(repo, folder)

        # hf-internal-testing/tiny-random-T5Model and -T5ForConditionalGeneration: AudioLDM2's and Stable Audio's
        # T5 tokenizer (and config). GUESS: the same tiny T5 as tiny-random-t5.
        for repo, cls in (
            ("hf-internal-testing/tiny-random-T5Model", "T5Model"),
            ("hf-internal-testing/tiny-random-T5ForConditionalGeneration", "T5ForConditionalGeneration"),
        ):
            if wanted(repo):
                import transformers

                folder = os.path.join(stage, repo.split("/")[1])
                save_t5_tokenizer(folder)
                torch.manual_seed(0)
                config = t5_config()
                config.architectures = [cls]
                getattr(transformers, cls)(config).eval().save_pretrained(folder)
                install(repo, folder)

        # hf-internal-testing/tiny-random-roberta: AudioLDM2's RoBERTa tokenizer (its CLAP text model: vocab 1000).
        repo = "hf-internal-testing/tiny-random-roberta"
        if wanted(repo):
            folder = os.path.join(stage, "tiny-random-roberta")
            save_roberta_tokenizer(folder, vocab_size=900)
            install(repo, folder)

        # hf-internal-testing/tiny-random-ClapModel: AudioLDM2's feature extractor. GUESS: ClapFeatureExtractor's
        # defaults (the tests override hop_length).
        repo = "hf-internal-testing/tiny-random-ClapModel"
        if wanted(repo):
            from transformers import ClapFeatureExtractor

            folder = os.path.join(stage, "tiny-random-ClapModel")
            ClapFeatureExtractor().save_pretrained(folder)
            install(repo, folder)

        # hf-internal-testing/tiny-random-SiglipVisionModel: FramePack's image encoder and processor (image_proj_dim
        # 32 = hidden_size; the tests resize to 30x30). GUESS: 30x30 images, patch 2, 2 layers.
        repo = "hf-internal-testing/tiny-random-SiglipVisionModel"
        if wanted(repo):
            from transformers import SiglipImageProcessor, SiglipVisionConfig, SiglipVisionModel

            folder = os.path.join(stage, "tiny-random-SiglipVisionModel")
            SiglipImageProcessor(size={"height": 30, "width": 30}).save_pretrained(folder)
            torch.manual_seed(0)
            config = SiglipVisionConfig(
                hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4, image_size=30,
                patch_size=2,
            )  # fmt: skip
            SiglipVisionModel(config).eval().save_pretrained(folder)
            install(repo, folder)

        # finetrainers/dummy-hunyaunvideo: only its tokenizer/ subfolder is read (HunyuanVideo tests: Llama vocab
        # 1000, padding to max_length, so the tokenizer has a pad token). GUESS: <pad> as the pad token.
        repo = "finetrainers/dummy-hunyaunvideo"
        if wanted(repo):
            folder = os.path.join(stage, "dummy-hunyaunvideo")
            save_llama_tokenizer(os.path.join(folder, "tokenizer"), pad_token="<pad>")
            install(repo, folder)

        # hf-internal-testing/tiny-random-LlamaForCausalLM: HiDream's Llama (caption_channels [32, 16]: hidden 16;
        # llama_layers (0, 1)). GUESS: 2 layers, 4 heads, a 500-token tokenizer with <pad>.
        repo = "hf-internal-testing/tiny-random-LlamaForCausalLM"
        if wanted(repo):
            from transformers import LlamaConfig, LlamaForCausalLM

            folder = os.path.join(stage, "tiny-random-LlamaForCausalLM")
            tokenizer = save_llama_tokenizer(folder, pad_token="<pad>")
            torch.manual_seed(0)
            config = LlamaConfig(
                vocab_size=len(tokenizer), hidden_size=16, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=2048, pad_token_id=0,
                bos_token_id=1, eos_token_id=2,
            )  # fmt: skip
            LlamaForCausalLM(config).eval().save_pretrained(folder)
            install(repo, folder)

        # hf-internal-testing/llama-tokenizer (OmniGen). GUESS: the real one is Llama 2's 32000-token tokenizer;
        # a small one has the same specials.
        repo = "hf-internal-testing/llama-tokenizer"
        if wanted(repo):
            from transformers import LlamaConfig

            folder = os.path.join(stage, "llama-tokenizer")
            tokenizer = save_llama_tokenizer(folder)
            # GUESS: a config.json (offline, AutoTokenizer fails on a repo without one: it cannot look it up).
            LlamaConfig(
                vocab_size=len(tokenizer),
                hidden_size=16,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
            ).save_pretrained(folder)
            install(repo, folder)

        # hf-internal-testing/dummy-gemma: the Sana/Lumina tokenizer. The Sana tests' Gemma2 has vocab_size 8 and
        # prompts "", so the specials sit at Gemma's ids (<pad> 0, <eos> 1, <bos> 2, <unk> 3). GUESS: 500 tokens.
        repo = "hf-internal-testing/dummy-gemma"
        if wanted(repo):
            from transformers import GemmaConfig

            folder = os.path.join(stage, "dummy-gemma")
            tokenizer = save_gemma_tokenizer(folder)
            # GUESS: a config.json, as for llama-tokenizer (Lumina 2 and PRX load it with AutoTokenizer).
            GemmaConfig(
                vocab_size=len(tokenizer),
                hidden_size=8,
                intermediate_size=16,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=2,
                head_dim=4,
            ).save_pretrained(folder)
            install(repo, folder)

        # hf-internal-testing/tiny-random-Gemma3ForCausalLM: the Stable Audio 3 tests' tokenizer (their T5Gemma encoder
        # takes its vocab_size). GUESS: Gemma's specials and 500 tokens, as dummy-gemma, and a tiny gemma3_text config.
        repo = "hf-internal-testing/tiny-random-Gemma3ForCausalLM"
        if wanted(repo):
            from transformers import Gemma3TextConfig

            folder = os.path.join(stage, "tiny-random-Gemma3ForCausalLM")
            tokenizer = save_gemma_tokenizer(folder)
            Gemma3TextConfig(
                vocab_size=len(tokenizer), hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, head_dim=4, architectures=["Gemma3ForCausalLM"],
            ).save_pretrained(folder)  # fmt: skip
            install(repo, folder)

        # hf-internal-testing/tiny-random-Qwen2VLForConditionalGeneration: the Qwen2/2.5-VL and Qwen3 tokenizer
        # (real special-token ids, a chat template), a Qwen2-VL processor and a tiny Qwen2-VL (EasyAnimate:
        # text_embed_dim 16 = hidden_size). GUESS: the image processor's defaults, 2 layers.
        repo = "hf-internal-testing/tiny-random-Qwen2VLForConditionalGeneration"
        if wanted(repo):
            from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

            folder = os.path.join(stage, "tiny-random-Qwen2VLForConditionalGeneration")
            tokenizer = save_qwen2_tokenizer(folder)
            try:
                from transformers import Qwen2VLImageProcessor, Qwen2VLProcessor

                processor = Qwen2VLProcessor(
                    image_processor=Qwen2VLImageProcessor(), tokenizer=tokenizer, chat_template=QWEN_CHAT_TEMPLATE
                )
                processor.save_pretrained(folder)
            except Exception as error:  # a video processor that needs torchvision, ...
                print(f"{repo}: no processor ({type(error).__name__}: {error})", file=sys.stderr)
            torch.manual_seed(0)
            config = Qwen2VLConfig(
                text_config=dict(
                    hidden_size=16, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                    num_key_value_heads=2, vocab_size=152064, rope_theta=1000000.0,
                    rope_scaling={"type": "mrope", "rope_type": "default", "mrope_section": [1, 1, 2]},
                ),
                vision_config=dict(depth=2, embed_dim=16, hidden_size=16, num_heads=2, mlp_ratio=1),
                vocab_size=152064, hidden_size=16, image_token_id=151655, video_token_id=151656,
                vision_start_token_id=151652, vision_end_token_id=151653,
            )  # fmt: skip
            Qwen2VLForConditionalGeneration(config).eval().save_pretrained(folder)
            install(repo, folder)

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
