"""A 2-D block's layout (channels x frames or frames x channels) is never guessed where it is ambiguous."""

import numpy as np
import pytest
import torch

from model import AudioInputError
from model.audio import MAX_CHANNELS, as_mono_float32, prepare
from tests.model.test_realtime_streaming import assert_same_as_offline

ONE_STEREO_FRAME = np.array([[0.2, 0.6]], dtype=np.float32)  # shape (1, 2)


@pytest.mark.parametrize("shape", [(1, 2), (2, 2), (5, 2), (2, 5), (8, 8), (100, 200), (0, 0)])
def test_ambiguous_shapes_are_refused_without_channels_first(shape) -> None:
    with pytest.raises(AudioInputError, match=r"ambiguous.*channels_first=True.*channels_first=False"):
        as_mono_float32(np.zeros(shape, dtype=np.float32))


def test_one_stereo_frame() -> None:
    np.testing.assert_allclose(as_mono_float32(ONE_STEREO_FRAME, channels_first=False), [0.4])
    np.testing.assert_allclose(as_mono_float32(ONE_STEREO_FRAME, channels_first=True), [0.2, 0.6])  # 1 channel


def test_small_blocks_follow_the_layout_given() -> None:
    block = np.arange(10, dtype=np.float32).reshape(5, 2)  # 5 frames of 2 channels
    np.testing.assert_allclose(as_mono_float32(block, channels_first=False), block.mean(axis=1))
    np.testing.assert_allclose(as_mono_float32(block.T, channels_first=True), block.mean(axis=1))
    square = np.array([[0.0, 1.0], [0.5, 0.5]], dtype=np.float32)
    np.testing.assert_allclose(as_mono_float32(square, channels_first=False), [0.5, 0.5])
    np.testing.assert_allclose(as_mono_float32(square, channels_first=True), [0.25, 0.75])
    np.testing.assert_allclose(as_mono_float32(torch.from_numpy(square), channels_first=True), [0.25, 0.75])


def test_unambiguous_shapes_are_still_read_without_channels_first() -> None:
    frames = np.random.default_rng(0).standard_normal((9, 2)).astype(np.float32)  # 9 is no plausible channel count
    np.testing.assert_allclose(as_mono_float32(frames), frames.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(as_mono_float32(frames.T), frames.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(as_mono_float32(np.ones((1, 300), dtype=np.int16)), np.full(300, 1 / 32768))
    assert as_mono_float32(np.zeros((0, 2), dtype=np.float32)).shape == (0,)  # an empty stereo block


def test_too_many_channels_suggests_the_other_orientation() -> None:
    wide = np.zeros((2, 48000), dtype=np.float32)
    with pytest.raises(AudioInputError, match=r"48000 channels.*pass channels_first=True"):
        as_mono_float32(wide, channels_first=False)
    with pytest.raises(AudioInputError, match=r"48000 channels.*pass channels_first=False"):
        as_mono_float32(wide.T, channels_first=True)
    as_mono_float32(np.zeros((100, MAX_CHANNELS), dtype=np.float32), channels_first=False)  # the limit itself is fine
    with pytest.raises(AudioInputError, match=f"{MAX_CHANNELS + 1} channels"):
        as_mono_float32(np.zeros((100, MAX_CHANNELS + 1), dtype=np.float32), channels_first=False)
    with pytest.raises(AudioInputError, match="no channels"):
        as_mono_float32(np.zeros((5, 0), dtype=np.float32), channels_first=False)


def test_prepare_and_transcribe_take_channels_first(tiny) -> None:
    with pytest.raises(AudioInputError, match="ambiguous"):
        prepare(np.zeros((4, 4), dtype=np.float32), 16000, 16000)
    np.testing.assert_allclose(prepare(ONE_STEREO_FRAME, 16000, 16000, channels_first=False), [0.4])
    with pytest.raises(AudioInputError, match="ambiguous"):
        tiny.model.transcribe(np.zeros((2, 2), dtype=np.float32), 16000)
    short = np.full((3, 2), 0.1, dtype=np.float32)
    mono = tiny.model.transcribe(short[:, 0], 16000)
    assert tiny.model.transcribe(short, 16000, channels_first=False).token_ids == mono.token_ids
    assert tiny.model.transcribe([short.T], 16000, channels_first=True)[0].token_ids == mono.token_ids


def test_feed_takes_frames_by_channels(tiny, speech) -> None:
    stereo = np.stack([speech, speech], axis=1)  # (frames, 2)
    session = tiny.model.stream()
    for i in range(len(stereo)):  # one stereo frame at a time for the first 2000 frames: (1, 2) blocks
        if i == 2000:
            break
        session.feed(stereo[i : i + 1])
    assert session.fed_seconds == pytest.approx(2000 / 16000)
    session.feed(stereo[2000:4000].T, channels_first=True)  # a (2, 2000) block, said to be channels x frames
    session.feed(stereo[4000:])
    session.finish()
    assert_same_as_offline(session, tiny.model.transcribe(speech, 16000))


def test_feed_refuses_a_channels_first_block_by_default(tiny, speech) -> None:
    session = tiny.model.stream()
    with pytest.raises(AudioInputError, match=r"channels_first=True"):
        session.feed(np.stack([speech[:48000], speech[:48000]]))  # (2, 48000)
    assert session.fed_seconds == 0.0  # nothing of the refused block was taken
