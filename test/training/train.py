"""The training half of `npm run test:training`: a LoRA trained with TRL on our exported mix, with each loss variant.

Run by test/training/run.ts, which made the export with the real `clarifycoder synth` and `clarifycoder mix`.
  python train.py <work folder> <mix folder>                  a tiny random llama
  python train.py <work folder> <mix folder> --gguf <file>    a real model: transformers reads the GGUF, dequantised
In the first form <work>/vocab.json (written by run.ts) holds the tiny GGUF test model's byte-level vocabulary, so the
tokenizer here and the GGUF written later agree token for token. Everything it measures goes to <work>/results.json.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

VARIANTS = ["answer-only", "prompt-and-answer"]
# The real model: one variant (a CPU step on 0.5B parameters takes seconds), the probabilities after a few prompts.
REAL_VARIANTS = ["answer-only"]
REAL_PROBES = 3
# Tokens whose log-probabilities results.json keeps for each probe: the top ones before and after training.
CANDIDATES = 20


def say(line: str) -> None:
    print(line, flush=True)


def build_tokenizer(vocab: dict) -> PreTrainedTokenizerFast:
    tokens = vocab["tokens"]
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ")) for m in vocab["merges"]])
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(vocab["special"])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=tokens[vocab["bos"]],
        eos_token=tokens[vocab["eos"]],
        pad_token=tokens[vocab["bos"]],
        model_max_length=4096,
    )


def build_model(work: Path, vocab: dict) -> Path:
    """A tiny llama, randomly initialised (seeded), with the tiny GGUF test model's shape and vocabulary."""
    folder = work / "tiny-llama"
    tokenizer = build_tokenizer(vocab)
    torch.manual_seed(1234)
    config = LlamaConfig(
        vocab_size=len(vocab["tokens"]),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        # Large enough that attention is far from uniform: a wrong rotary layout in the GGUF then shows.
        initializer_range=0.2,
        bos_token_id=vocab["bos"],
        eos_token_id=vocab["eos"],
        pad_token_id=vocab["bos"],
    )
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    say(f"tiny llama: {sum(p.numel() for p in model.parameters())} parameters, vocabulary {config.vocab_size}, saved to {folder.name}/")
    return folder


def build_model_from_gguf(work: Path, gguf: Path) -> Path:
    """The real model as transformers reads a GGUF: every tensor dequantised to float32, saved as a checkpoint."""
    folder = work / "base"
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # A model loaded from a GGUF is marked quantised and refuses save_pretrained: the same weights in a plain one.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    del loaded
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    attention = model.model.layers[0].self_attn
    biases = [name for name in ("q_proj", "k_proj", "v_proj", "o_proj") if getattr(attention, name).bias is not None]
    tied = model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    say(
        f"{config.model_type} from {gguf.name}: {sum(p.numel() for p in model.parameters())} parameters, {config.num_hidden_layers} layers, "
        f"{config.num_attention_heads} heads ({config.num_key_value_heads} for k/v), vocabulary {config.vocab_size}; "
        f"biases on {', '.join(biases) or 'none'}; the output {'tied to the token embeddings' if tied else 'a tensor of its own (output.weight in this GGUF)'}"
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def sft_parser():
    from trl.scripts.sft import make_parser

    return make_parser()


def overrides(base: Path, out: Path, real: bool = False) -> list[str]:
    """What changes to run the exported config on a CPU: the model, a few steps, a higher rate (and, for the real
    model, fewer and shorter examples, no evaluation)."""
    common = [
        "--model_name_or_path", str(base),
        "--output_dir", str(out),
        "--warmup_steps", "0",
        "--gradient_accumulation_steps", "1",
        "--bf16", "false",
        "--save_strategy", "no",
        "--use_cpu", "true",
        "--dataloader_num_workers", "0",
    ]
    if real:
        return [*common, "--max_steps", "6", "--learning_rate", "0.002", "--per_device_train_batch_size", "2", "--max_length", "256", "--eval_strategy", "no", "--logging_steps", "2"]
    return [*common, "--max_steps", "12", "--learning_rate", "0.01", "--per_device_train_batch_size", "4", "--eval_steps", "6", "--logging_steps", "4"]


def check_masks(config: Path, base: Path, variant: str, mix: Path, real: bool = False) -> dict:
    """Builds TRL's trainer from the exported config and reads the labels it prepared for the first examples."""
    os.chdir(mix)  # the exported configs name their data relative to the export folder
    from datasets import load_dataset
    from trl import SFTTrainer, get_peft_config

    script_args, training_args, model_args, _ = sft_parser().parse_args_and_config(
        ["--config", str(config), *overrides(base, mix / "unused", real)], fail_with_unknown_args=True
    )
    dataset = load_dataset(script_args.dataset_name)
    trainer = SFTTrainer(
        model=model_args.model_name_or_path,
        args=training_args,
        train_dataset=dataset[script_args.dataset_train_split],
        eval_dataset=dataset[script_args.dataset_test_split],
        peft_config=get_peft_config(model_args),
    )
    tokenizer = trainer.processing_class
    raw = dataset[script_args.dataset_train_split]
    checked = 0
    merged = []
    for index in range(min(8, len(raw))):
        row = raw[index]
        prepared = trainer.train_dataset[index]
        prompt_ids = tokenizer(row["prompt"])["input_ids"]
        input_ids, labels = prepared["input_ids"], prepared["labels"]
        n = len(prompt_ids)
        if input_ids[:n] != prompt_ids:
            # The prompt's last token and the completion's first merged into one (the v4 text joins them with no
            # separator): TRL starts the completion at that token. Allowed only on a real tokenizer, and recorded.
            assert real, "the prompt's tokens start the example"
            n = next(i for i, (a, b) in enumerate(zip(input_ids, prompt_ids)) if a != b)
            merged.append({"id": row["id"], "token": tokenizer.decode([input_ids[n]])})
        if variant == "answer-only":
            assert all(label == -100 for label in labels[:n]), "answer-only: every prompt token is masked"
            assert labels[n:] == input_ids[n:], "answer-only: every completion token is trained"
        else:
            assert labels == input_ids, "prompt-and-answer: every token is trained"
        trained = tokenizer.decode([t for t, label in zip(input_ids, labels) if label != -100], skip_special_tokens=True)
        whole = row["prompt"] + row["completion"]
        if variant == "answer-only":
            # The trained tokens are the completion, with the prompt's end that merged into its first token.
            assert trained.endswith(row["completion"]) and whole.endswith(trained), "the trained tokens decode to the completion"
            assert n < len(prompt_ids) or trained == row["completion"], "the trained tokens decode to the completion"
        else:
            assert trained == whole, "the trained tokens decode to the whole text"
        checked += 1
    first = trainer.train_dataset[0]
    masked = sum(1 for label in first["labels"] if label == -100)
    return {"checked": checked, "firstTokens": len(first["input_ids"]), "firstMasked": masked, "merged": merged}


def next_token_probabilities(model, ids: list[int]) -> list[float]:
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    return torch.softmax(logits.float(), dim=-1).tolist()


def train(mix: Path, base: Path, variant: str, out: Path, real: bool = False) -> dict:
    """`trl sft` with the exported config of one variant; the PEFT adapter it saved; the labels TRL prepared."""
    config = mix / "configs" / f"trl-{variant}.yaml"
    say(f"\n== {variant}: trl sft --config configs/{config.name} (the exported config; model, steps and device overridden for a CPU)")
    command = [str(Path(sys.executable).parent / "trl"), "sft", "--config", str(config), *overrides(base, out, real)]
    run = subprocess.run(command, cwd=mix, capture_output=True, text=True)
    losses = [line.strip() for line in (run.stdout + run.stderr).splitlines() if "'loss'" in line or "'eval_loss'" in line]
    for line in losses:
        say(f"  {line}")
    if run.returncode != 0:
        say((run.stdout + run.stderr)[-4000:])
        raise SystemExit(f"FAILED: trl sft exited with {run.returncode}")
    files = sorted(p.name for p in out.iterdir())
    assert "adapter_model.safetensors" in files and "adapter_config.json" in files, files
    adapter_config = json.loads((out / "adapter_config.json").read_text())
    say(
        f"  PEFT adapter saved: {', '.join(f for f in files if f.startswith('adapter'))} "
        f"(r={adapter_config['r']}, alpha={adapter_config['lora_alpha']}, targets {sorted(adapter_config['target_modules'])}, bias {adapter_config.get('bias')})"
    )
    masks = check_masks(config, base, variant, mix, real)
    say(
        f"  labels checked on {masks['checked']} prepared examples: "
        + (
            f"prompt tokens masked (-100), completion tokens trained; first example {masks['firstMasked']} of {masks['firstTokens']} tokens masked"
            if variant == "answer-only"
            else f"every token trained; first example {masks['firstMasked']} of {masks['firstTokens']} tokens masked"
        )
    )
    if masks["merged"]:
        say(
            f"  in {len(masks['merged'])} of {masks['checked']} the prompt's last token merged with the completion's first "
            f"({', '.join(sorted({repr(m['token']) for m in masks['merged']}))}): the v4 text joins them with no separator, so TRL trains from the merged token"
        )
    return masks


def main_tiny(work: Path, mix: Path) -> int:
    vocab = json.loads((work / "vocab.json").read_text())
    base = build_model(work, vocab)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(base)

    validation = [json.loads(line) for line in (mix / "v4" / "validation.jsonl").read_text().splitlines() if line]
    probe = next(row for row in validation if row["type"] != "Original")
    ids = tokenizer(probe["prompt"])["input_ids"]
    results = {"probe": {"id": probe["id"], "tokens": ids}, "variants": {}}

    base_model = LlamaForCausalLM.from_pretrained(base)
    base_model.eval()
    results["base"] = next_token_probabilities(base_model, ids)

    from peft import PeftModel

    for variant in VARIANTS:
        out = work / "adapters" / variant
        masks = train(mix, base, variant, out)
        adapted = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(base), out)
        adapted.eval()
        probabilities = next_token_probabilities(adapted, ids)
        moved = max(abs(a - b) for a, b in zip(probabilities, results["base"]))
        top = sorted(range(len(probabilities)), key=lambda t: -probabilities[t])[:3]
        say(
            f"  next-token probabilities after the prompt of {probe['id']} moved by up to {moved:.4f}; "
            f"top tokens now {[(tokenizer.decode([t]), round(probabilities[t], 4)) for t in top]}"
        )
        assert moved > 1e-3, "training changed the model's next-token probabilities"
        results["variants"][variant] = {"adapter": str(out), "probabilities": probabilities, "masks": masks, "moved": moved}

    (work / "results.json").write_text(json.dumps(results))
    return 0


def log_probabilities(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1)


def write_subset(adapter: Path, folder: Path, modules: list[str]) -> None:
    """A copy of a PEFT adapter folder that adapts only `modules`."""
    from safetensors.torch import load_file, save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = load_file(adapter / "adapter_model.safetensors")
    save_file({k: v for k, v in tensors.items() if any(f".{m}." in k for m in modules)}, folder / "adapter_model.safetensors", metadata={"format": "pt"})
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["target_modules"] = modules
    (folder / "adapter_config.json").write_text(json.dumps(config, indent=2))


def main_real(work: Path, mix: Path, gguf: Path) -> int:
    """The real model: its log-probabilities after a few validation prompts, bare and adapted, for the tokens on top
    of either (run.ts compares them with node-llama-cpp's on the quantised GGUF itself)."""
    base = build_model_from_gguf(work, gguf)
    tokenizer = AutoTokenizer.from_pretrained(base)
    validation = [json.loads(line) for line in (mix / "v4" / "validation.jsonl").read_text().splitlines() if line]
    probes = [{"id": row["id"], "prompt": row["prompt"], "tokens": tokenizer(row["prompt"])["input_ids"]} for row in validation[:REAL_PROBES]]

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.eval()
    bare = [log_probabilities(model, probe["tokens"]) for probe in probes]

    from peft import PeftModel

    results: dict = {"probes": probes, "vocabulary": model.config.vocab_size, "variants": {}}
    for variant in REAL_VARIANTS:
        out = work / "adapters" / variant
        masks = train(mix, base, variant, out, real=True)
        adapted_model = PeftModel.from_pretrained(model, out)
        adapted_model.eval()
        adapted = [log_probabilities(adapted_model, probe["tokens"]) for probe in probes]
        model = adapted_model.unload()  # the bare model again
        # The same adapter with its q_proj and k_proj weights only: their effect alone tests the rotary row order.
        qk_only = work / "adapters" / f"{variant}-qk-only"
        write_subset(out, qk_only, ["q_proj", "k_proj"])
        qk_model = PeftModel.from_pretrained(model, qk_only)
        qk_model.eval()
        adapted_qk = [log_probabilities(qk_model, probe["tokens"]) for probe in probes]
        model = qk_model.unload()
        per_probe = []
        for probe, before, after, qk in zip(probes, bare, adapted, adapted_qk):
            top_before = torch.topk(before, CANDIDATES).indices.tolist()
            top_after = torch.topk(after, CANDIDATES).indices.tolist()
            candidates = list(dict.fromkeys(top_after + top_before))
            per_probe.append(
                {
                    "candidates": candidates,
                    "base": [before[t].item() for t in candidates],
                    "adapted": [after[t].item() for t in candidates],
                    "adaptedQk": [qk[t].item() for t in candidates],
                }
            )
            moved = max(abs(after[t].item() - before[t].item()) for t in candidates)
            say(
                f"  after the prompt of {probe['id']} ({len(probe['tokens'])} tokens): log-probabilities of the top tokens moved by up to {moved:.3f}; "
                f"top tokens {[tokenizer.decode([t]) for t in top_before[:3]]} -> {[tokenizer.decode([t]) for t in top_after[:3]]}"
            )
        results["variants"][variant] = {"adapter": str(out), "adapterQk": str(qk_only), "masks": masks, "probes": per_probe}

    (work / "results.json").write_text(json.dumps(results))
    return 0


def main() -> int:
    work, mix = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    if len(sys.argv) == 5 and sys.argv[3] == "--gguf":
        return main_real(work, mix, Path(sys.argv[4]).resolve())
    return main_tiny(work, mix)


if __name__ == "__main__":
    sys.exit(main())
