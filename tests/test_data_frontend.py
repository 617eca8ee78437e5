"""The audio front end, spike encodings and seeded augmentation."""

import math

import pytest
import torch

from robust_snn.config import ConfigError
from robust_snn.data.augment import mix_at_snr, noise_segment, time_shift
from robust_snn.data.encoding import delta_encode, encode
from robust_snn.data.frontend import (
    FrontEndConfig, dct_matrix, features, frame_count, hz_to_mel, mel_centres, mel_filterbank, mel_to_hz,
    power_spectrum,
)


def tone(freq: float, rate: int, seconds: float = 1.0) -> torch.Tensor:
    t = torch.arange(int(rate * seconds)) / rate
    return 0.5 * torch.sin(2 * math.pi * freq * t)


@pytest.mark.parametrize("rate", [8000, 16000])
def test_one_second_gives_98_frames_of_16_channels_at_any_rate(rate):
    x = features(tone(440, rate), rate)
    assert x.shape == (98, 16) and x.dtype == torch.float32
    assert frame_count(rate, rate, FrontEndConfig()) == 98


def test_batches_keep_their_leading_dimensions():
    x = features(torch.stack([tone(300, 8000), tone(900, 8000)]), 8000, FrontEndConfig(n_mels=8))
    assert x.shape == (2, 98, 8)


def test_power_spectrum_is_torch_stft_without_padding():
    x = torch.randn(2, 1000, generator=torch.Generator().manual_seed(0))
    window = torch.hann_window(240, periodic=True)
    reference = torch.stft(x, 240, hop_length=80, window=window, center=False, return_complex=True).abs().square()
    assert torch.allclose(power_spectrum(x, 240, 80, window), reference.transpose(1, 2) / window.square().sum(),
                          atol=1e-5)


def test_mel_filter_peaks_sit_at_the_mel_formula_centres_and_rise_monotonically():
    rate, n_fft = 16000, 2048
    bank = mel_filterbank(16, n_fft, rate, 100.0, 4000.0)
    peaks = bank.argmax(0).double() * rate / n_fft
    assert torch.all(peaks[1:] > peaks[:-1])
    expected = mel_to_hz(torch.linspace(float(hz_to_mel(100.0)), float(hz_to_mel(4000.0)), 18))[1:-1]
    assert torch.allclose(peaks, expected, atol=rate / n_fft)
    assert torch.allclose(mel_centres(16, 100.0, 4000.0), expected)


def test_mel_scale_round_trips():
    f = torch.tensor([0.0, 700.0, 4000.0], dtype=torch.float64)
    assert torch.allclose(mel_to_hz(hz_to_mel(f)), f)
    assert float(hz_to_mel(700.0)) == pytest.approx(2595 * math.log10(2))


def test_a_tone_lights_the_band_around_its_frequency():
    fe = FrontEndConfig(normalize="none")
    energy = features(tone(1000, 8000), 8000, fe).mean(0)
    assert int(energy.argmax()) == int((mel_centres(16, 100.0, 4000.0) - 1000).abs().argmin())


def test_dct_is_orthonormal():
    d = dct_matrix(40, 40)
    assert torch.allclose(d.T @ d, torch.eye(40), atol=1e-5)


def test_mfcc_output_has_n_mfcc_channels():
    assert features(tone(500, 8000), 8000, FrontEndConfig(n_mels=40, n_mfcc=13)).shape == (98, 13)


def test_utterance_normalisation_gives_zero_mean_unit_variance_channels():
    swell = torch.linspace(0.01, 1.0, 8000) * torch.randn(8000, generator=torch.Generator().manual_seed(0))
    x = features(swell, 8000)
    assert torch.allclose(x.mean(0), torch.zeros(16), atol=1e-4)
    assert torch.allclose(x.std(0, unbiased=False), torch.ones(16), atol=1e-2)


def test_digital_silence_is_finite():
    assert torch.isfinite(features(torch.zeros(8000), 8000)).all()


def test_f_max_above_nyquist_is_refused():
    with pytest.raises(ConfigError, match="above the Nyquist"):
        features(tone(100, 4000), 4000)


def test_config_round_trips_through_a_dict_and_names_bad_fields():
    fe = FrontEndConfig(n_mels=40, n_mfcc=40, encoding="delta")
    assert FrontEndConfig.from_dict(fe.to_dict()) == fe
    with pytest.raises(ConfigError, match="frontend.encoding must be one of current, delta"):
        FrontEndConfig(encoding="rate")
    with pytest.raises(ConfigError, match="frontend.n_mels must be an integer"):
        FrontEndConfig.from_dict({"n_mels": "many"})


def test_delta_encoding_emits_up_then_down_events_per_threshold_crossed():
    x = torch.tensor([[0.0], [1.0], [1.2], [0.1]])
    spikes = delta_encode(x, threshold=0.5)
    assert spikes.shape == (4, 2)
    assert spikes[:, 0].tolist() == [0, 2, 0, 0]  # up: 0 -> 1.0 is two thresholds
    assert spikes[:, 1].tolist() == [0, 0, 0, 1]  # down: from level 1.0 to 0.1 crosses one threshold (level 0.5)


def test_current_encoding_is_the_identity():
    x = torch.randn(5, 3)
    assert torch.equal(encode(x, FrontEndConfig()), x)


def test_augmentation_is_determined_by_the_generator():
    wave = tone(300, 8000)
    bank = [torch.randn(20000, generator=torch.Generator().manual_seed(1))]

    def draw(seed):
        g = torch.Generator().manual_seed(seed)
        return mix_at_snr(time_shift(wave, 800, g), noise_segment(bank, 8000, g), 5.0, 0.125)

    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_noise_is_mixed_at_the_requested_snr():
    speech, noise = tone(300, 8000), torch.randn(8000, generator=torch.Generator().manual_seed(0))
    mixed = mix_at_snr(speech, noise, 10.0, float(speech.square().mean()))
    added = mixed - speech
    assert 10 * math.log10(float(speech.square().mean() / added.square().mean())) == pytest.approx(10.0)


def test_time_shift_moves_content_and_fills_with_zeros_without_wrapping():
    wave = torch.arange(1.0, 11.0)
    for seed in range(5):
        shifted = time_shift(wave, 3, torch.Generator().manual_seed(seed))
        kept = shifted[shifted != 0]
        first = int(kept[0]) - 1
        assert 10 - len(kept) <= 3
        assert torch.equal(kept, wave[first : first + len(kept)])
        assert shifted[0] == 0 or shifted[-1] == 0 or len(kept) == 10
