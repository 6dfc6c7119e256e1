"""The GPU paths (tests marked `gpu`; they run only where torch sees CUDA, e.g. `make test` on a GPU
worker): extraction, training, scoring and 3 GRPO steps on CUDA with the tiny profile."""

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.slow,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")]


@pytest.fixture(scope="module")
def cuda_run(tiny_home, tmp_path_factory):
    from clmer import pipeline
    from clmer.synthetic.demo_corpus import make_demo_corpus
    from tests.conftest import make_settings

    work = tmp_path_factory.mktemp("gpu")
    s = make_settings(tiny_home, work, models={"device": "cuda"}, train={"device": "cuda", "warmup_epochs": 5,
                                                                         "rl_epochs": 2})
    corpus = work / "corpus"
    make_demo_corpus(corpus, n=24, seed=4)
    features = pipeline.extract(corpus, s, work / "extract")
    return {"settings": s, "corpus": corpus, "features": features,
            "model_dir": pipeline.train(corpus, features, s, work / "train"), "work": work}


def test_extraction_and_training_ran_on_cuda(cuda_run):
    import pandas as pd

    from clmer.features.encoders import get_extractor

    frame = pd.read_parquet(cuda_run["features"])
    assert (frame["status"] != "failed").all()
    text = get_extractor("text", cuda_run["settings"])
    assert text.model.device.type == "cuda" and text.model.dtype in (torch.float16, torch.bfloat16)


def test_scoring_on_cuda(cuda_run):
    from clmer.serving.scoring import Scorer
    from tests.model.test_reasoning_explainer import _jobs

    scorer = Scorer(cuda_run["model_dir"], cuda_run["settings"])
    rows = scorer.predict_features(scorer.extract(_jobs(cuda_run, 2)))
    assert (rows["status"] != "failed").all()


def test_three_grpo_steps_on_cuda_update_the_adapter_in_bf16_autocast(cuda_run):
    import shutil

    from safetensors.torch import load_file

    from clmer import pipeline

    s = cuda_run["settings"].model_copy(deep=True)
    s.reasoning.max_steps, s.reasoning.num_generations, s.reasoning.generate_max_new_tokens = 3, 4, 16
    s.reasoning.sft_steps = 2
    s.reasoning.max_examples, s.reasoning.eval_examples, s.reasoning.learning_rate = 4, 1, 1e-2
    train_dir = cuda_run["work"] / "reasoning"
    shutil.copytree(cuda_run["model_dir"], train_dir / "model")
    adapter = pipeline.train_reasoning(train_dir, cuda_run["corpus"], cuda_run["features"], s)
    weights = load_file(str(adapter / "adapter_model.safetensors"))
    assert all(v.abs().sum() > 0 for k, v in weights.items() if "lora_B" in k)  # every adapter matrix moved
