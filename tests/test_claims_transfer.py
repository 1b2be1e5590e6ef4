"""The transfer claims of lesson 04, measured with the bundled base over seeds 0, 1 and 2.

Small subsets keep the file to a few minutes: phase 1 trains on cached features, phase 2 is short.
Each claim prints its numbers (`pytest -s` shows them). The BatchNormalization and frozen-weight
claims live in tests/test_two_phase.py and tests/test_models.py.
"""

import math

import pytest

from helpers.lessons import rate_comparison, target_task

IMAGES_PER_CLASS = 10  # 40 target training images
HEAD_EPOCHS, FINE_TUNE_EPOCHS = 5, 2
SMALL_RATE, LARGE_RATE = 1e-5, 1e-2
# Short fits run eagerly (rate_comparison.EAGER_STEPS); tf.data then notes that its own functions
# stay traced.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Even though the `tf.config.experimental_run_functions_eagerly`"
)


@pytest.fixture(scope="module", params=[0, 1, 2], ids=lambda seed: f"seed{seed}")
def measured(request):
    """Runs head only, 1e-2 and 1e-5 fine-tunes and the from-scratch baseline once per seed."""
    seed = request.param
    data = target_task.prepare_data(IMAGES_PER_CLASS, test_count=60, source_count=90, seed=seed)
    head_only, large, small = rate_comparison.compare(
        data,
        [LARGE_RATE, SMALL_RATE],
        head_epochs=HEAD_EPOCHS,
        fine_tune_epochs=FINE_TUNE_EPOCHS,
        seed=seed,
    )
    scratch = rate_comparison.from_scratch(data, epochs=HEAD_EPOCHS + FINE_TUNE_EPOCHS, seed=seed)
    return {
        "seed": seed,
        "head only": head_only,
        "large": large,
        "small": small,
        "scratch": scratch,
    }


@pytest.mark.slow
def test_a_small_rate_keeps_more_source_accuracy_than_a_large_one(measured):
    small, large = measured["small"], measured["large"]
    before = measured["head only"].source_accuracy
    print(
        f"\nseed {measured['seed']}: source accuracy before phase 2 {before:.3f}, "
        f"after phase 2 at {SMALL_RATE:g}: {small.source_accuracy:.3f}, "
        f"at {LARGE_RATE:g}: {large.source_accuracy:.3f}"
    )
    assert small.source_accuracy > large.source_accuracy
    assert small.overall_drift < large.overall_drift
    # Lesson 04's largest rate drops accuracy, yet its loss stays far below fine_tune's guard.
    assert large.stopped_reason is None and small.stopped_reason is None


@pytest.mark.slow
def test_the_pretrained_start_beats_training_from_scratch_at_equal_epochs(measured):
    pretrained, scratch = measured["small"], measured["scratch"]
    epochs = HEAD_EPOCHS + FINE_TUNE_EPOCHS
    print(
        f"\nseed {measured['seed']}: target accuracy after {epochs} epochs, "
        f"pretrained start {pretrained.target_accuracy:.3f}, "
        f"from scratch {scratch.target_accuracy:.3f}"
    )
    assert pretrained.target_accuracy > scratch.target_accuracy
    # No source head applies to a base trained from scratch.
    assert math.isnan(scratch.source_accuracy) and scratch.layer_drift == {}
