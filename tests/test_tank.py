"""The synthetic spring tank: decay, dispersion, linearity and its building blocks.

References used here are independent of the tank's own code: pyroomacoustics' RT60 estimator,
scipy's lfilter and group_delay on the allpass filters written out as polynomials, and the
physical expectation that low-chirp arrival time rises with frequency below fc.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyroomacoustics.experimental import measure_rt60
from scipy import fft as sfft
from scipy import signal

from springstudy.acoustics import decay_time
from springstudy.data.tank import SpringTank, TankParams, thiran_coefficient

FS = 16_000


@pytest.mark.parametrize("rt60", [1.0, 1.7, 2.5, 4.0])
def test_true_ir_rt60_within_5_percent(rt60: float) -> None:
    tank = SpringTank(TankParams(sample_rate=FS, rt60=rt60))
    h = tank.impulse_response
    reference = measure_rt60(h, FS, decay_db=30)      # pyroomacoustics, -5 to -35 dB
    assert reference == pytest.approx(rt60, rel=0.05)
    assert tank.rt60()["broadband"] == pytest.approx(rt60, rel=0.05)


def test_rt60_independent_of_sample_rate() -> None:
    low = SpringTank(TankParams(sample_rate=16_000, rt60=2.0)).rt60()
    high = SpringTank(TankParams(sample_rate=48_000, rt60=2.0)).rt60()
    for band in ("broadband", "250", "1000", "4000"):
        assert high[band] == pytest.approx(low[band], rel=0.05)


def test_hf_damping_shortens_high_bands() -> None:
    bands = SpringTank(TankParams(sample_rate=FS, rt60=2.0, hf_damping=0.5)).rt60()
    assert bands["4000"] < 0.8 * bands["250"]
    flat = SpringTank(TankParams(sample_rate=FS, rt60=2.0, hf_damping=1.0)).rt60()
    assert flat["4000"] == pytest.approx(flat["250"], rel=0.15)


def test_ir_is_causal_and_not_time_aliased() -> None:
    tank = SpringTank(TankParams(sample_rate=FS, rt60=2.0))
    decay, full = tank._calibrated
    # The FFT buffer's last 20 ms would hold any energy that wrapped round from "negative time"
    # or from beyond the buffer: it must be > 100 dB below the IR's peak.
    tail = full[-int(0.02 * FS):]
    assert 20 * np.log10(np.max(np.abs(tail)) / np.max(np.abs(full))) < -100
    # Nothing arrives before the shortest path through the high-chirp loop's filters (~0 ms)
    # with more than -100 dB, and doubling the FFT size changes nothing.
    n = full.size
    h2 = sfft.irfft(tank._transfer(2 * n, decay), n=2 * n)
    h2 *= np.sqrt(np.sum(full**2) / np.sum(h2**2))
    assert np.max(np.abs(h2[:n] - full)) < 1e-6 * np.max(np.abs(full))


def _stretched_allpass_polynomials(a1: float, k_int: int, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """A(z) = (a1 + W)/(1 + a1 W), W = z^-K1 (eta + z^-1)/(1 + eta z^-1), as b/a polynomials."""
    wn = np.zeros(k_int + 2)
    wn[k_int], wn[k_int + 1] = eta, 1.0       # numerator of W
    wd = np.array([1.0, eta])                   # denominator of W
    b = a1 * np.pad(wd, (0, wn.size - wd.size)) + wn
    a = np.pad(wd, (0, wn.size - wd.size)) + a1 * wn
    return b, a


def test_stretched_allpass_cascade_matches_lfilter() -> None:
    params = TankParams(sample_rate=FS, fc=3000.0, stages=5)
    tank = SpringTank(params)
    k = tank.stretch
    k_int = int(np.floor(k - 0.5))
    eta = thiran_coefficient(k - k_int)
    b, a = _stretched_allpass_polynomials(params.a1, k_int, eta)
    n = 4096
    impulse = np.zeros(n)
    impulse[0] = 1.0
    y = impulse
    for _ in range(params.stages):
        y = signal.lfilter(b, a, y)
    omega = 2 * np.pi * np.arange(n // 2 + 1) / n
    response, tau = tank._low_cascade(omega)
    assert np.allclose(sfft.irfft(response, n), y, atol=1e-9)
    # The analytic group delay matches scipy's group delay of the polynomial form.
    w, gd = signal.group_delay((b, a), w=omega[1:-1:40])
    assert np.allclose(tau[1:-1:40], params.stages * gd, rtol=1e-5, atol=1e-6)


def _arrival_time(h: np.ndarray, centre: float, window: int) -> float:
    sos = signal.butter(4, [centre / 2**0.25, centre * 2**0.25], "bandpass", fs=FS, output="sos")
    envelope = np.abs(signal.hilbert(signal.sosfiltfilt(sos, h[:window])))
    return float(np.argmax(envelope)) / FS


def test_dispersion_low_chirp_delay_rises_with_frequency() -> None:
    params = TankParams(sample_rate=FS, rt60=2.0, high_chirp_level_db=-80.0)
    tank = SpringTank(params)
    h = tank.impulse_response
    first_pass = int(params.loop_delay * FS)   # before the first echo returns
    freqs = np.array([1000.0, 2000.0, 3000.0, 3800.0])
    times = np.array([_arrival_time(h, f, first_pass) for f in freqs])
    assert np.all(np.diff(times) > 0), times
    # A chirp, not a click: tens of milliseconds between 1 and 3.8 kHz ...
    assert times[-1] - times[0] > 0.01
    # ... where the cascade's analytic group delay says (within a millisecond or 15%) where it
    # is flat across the half-octave band; near fc it steepens and the band's energy arrives
    # before the centre frequency's delay, so only the lower two bands are compared.
    _, tau = tank._low_cascade(2 * np.pi * freqs[:2] / FS)
    assert np.allclose(times[:2], tau / FS, rtol=0.15, atol=1e-3), (times, tau / FS)


def test_drive_zero_is_linear_and_drive_breaks_superposition() -> None:
    rng = np.random.default_rng(0)
    x1, x2 = rng.uniform(-0.5, 0.5, (2, 8000))
    linear = SpringTank(TankParams(sample_rate=FS, rt60=1.0, drive=0.0))
    lhs = linear.process(0.7 * x1 - 1.3 * x2)
    rhs = 0.7 * linear.process(x1) - 1.3 * linear.process(x2)
    assert np.allclose(lhs, rhs, atol=1e-12)
    # An impulse through the linear tank gives back its true impulse response.
    impulse = np.zeros(8000)
    impulse[0] = 1.0
    assert np.allclose(linear.process(impulse), linear.impulse_response[:8000], atol=1e-12)

    driven = SpringTank(TankParams(sample_rate=FS, rt60=1.0, drive=2.0))
    lhs = driven.process(0.7 * x1 - 1.3 * x2)
    rhs = 0.7 * driven.process(x1) - 1.3 * driven.process(x2)
    assert np.max(np.abs(lhs - rhs)) > 1e-2 * np.max(np.abs(lhs))


def test_noise_floor_level() -> None:
    tank = SpringTank(TankParams(sample_rate=FS, rt60=1.0, noise_floor_db=-60.0))
    y = tank.process(np.zeros(FS))
    assert 20 * np.log10(np.sqrt(np.mean(y**2))) == pytest.approx(-60.0, abs=0.2)


def test_bad_parameters_are_named() -> None:
    with pytest.raises(ValueError, match="fc"):
        TankParams(sample_rate=16_000, fc=9000.0)
    with pytest.raises(ValueError, match="unknown parameter.*rt_60"):
        TankParams.from_dict({"rt_60": 2.0})


def test_acoustics_t30_agrees_with_pyroomacoustics() -> None:
    # A closed-form exponential decay: white noise under exp(-6.91 t / RT).
    rng = np.random.default_rng(1)
    t = np.arange(3 * FS) / FS
    h = rng.standard_normal(t.size) * np.exp(-3 * np.log(10) * t / 1.5)
    assert decay_time(h, FS, "t30") == pytest.approx(1.5, rel=0.03)
    assert decay_time(h, FS, "t30") == pytest.approx(measure_rt60(h, FS, decay_db=30), rel=0.03)
