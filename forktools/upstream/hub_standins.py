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

import torch


LFS_SUFFIXES = (".bin", ".safetensors", ".msgpack", ".onnx", ".pb", ".pt", ".pth", ".npy", ".dduf", ".model")
REPOS = (
    "hf-internal-testing/tiny-random-clip",
    "hf-internal-testing/tiny-random-t5",
    "AlanPonnachan/tiny-sd3-modular",
    "hf-internal-testing/tiny-stable-diffusion-torch",
    "hf-internal-testing/diffusers-stable-diffusion-tiny-all",
    "hf-internal-testing/tiny-stable-diffusion-pipe-indexes",
    "google/ddpm-cifar10-32",
    "akasharidas/ddpm-cifar10-32-dot.in.name",
    "hf-internal-testing/tiny-sdxl-custom-components",
    "hf-internal-testing/tiny-sdxl-custom-all",
)


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
            with open(os.path.join(folder, "model_index.json")) as f:
                index = json.load(f)
            modular = {
                "_blocks_class_name": "StableDiffusion3AutoBlocks",
                "_class_name": "StableDiffusion3ModularPipeline",
                "_diffusers_version": index["_diffusers_version"],
            }
            for name, value in index.items():
                if isinstance(value, list) and len(value) == 2 and value[0] is not None:
                    spec = dict(pretrained_model_name_or_path=repo, revision=None, subfolder=name, type_hint=value)
                    modular[name] = [value[0], value[1], dict(spec, variant=None)]
            with open(os.path.join(folder, "modular_model_index.json"), "w") as f:
                json.dump(modular, f, indent=2, sort_keys=True)
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
