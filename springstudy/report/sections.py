"""What the report shows, in order: its sections, their tables and figures with captions, and the
thesis's errata (:data:`CORRECTIONS`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, a paragraph, the tables (stems) and figures (globs) it shows."""

    title: str
    text: str                     # may name {springset}, {egfxset}, {confidence}, {n_resamples} (Context.words)
    tables: tuple["Table", ...] = ()
    figures: tuple["Figure", ...] = ()
    extra: str = ""               # name of a generated block (see _EXTRAS)


#: The corrections this study makes to the thesis and its public code.
CORRECTIONS = (
    "Tables 9–10 of the thesis zipped five metrics [MAE, MSE, ESR, DC, MR-STFT] onto four column names: "
    "its column headed ESR most likely holds MSE, DC holds ESR and MR-STFT holds DC. Our tables use "
    "one definition per metric (`springstudy.metrics`) under its own name; Table 8 looks correctly labelled.",
    "The thesis's TCN overwrote its dilation argument, so every block had dilation 1 and the reported "
    "receptive fields were nominal. Ours applies the dilations; `receptive_field` reports the true value "
    "(1 + (k−1)·Σd), and a test measures it from an impulse.",
    "Its WaveNet receptive-field formula summed k·d; its LSTM ignored num_layers; some 'causal' layers "
    "padded symmetrically. Ours are causal by construction (a test changes x[t0:] and checks y[:t0]).",
    "Table 6's layer counts contradict its parameter counts; the parameter count is taken as the ground "
    "truth of each named configuration (see the model table).",
    "RT60 was measured from −5 to −60 dB and called RT60; ours reports T20, T30 and T60 (−5 to −65 dB) "
    "under their ISO 3382 names, with Lundeby noise handling.",
    "The impulse-response sweep was cut into chunks (truncating tails) and dB were converted to linear "
    "twice; ours sends one continuous sweep with silence for the tail, level converted once.",
    "RTF timing had no warm-up and divided by one item's length for a whole batch; memory was never "
    "measured. Ours warms up, takes medians, measures peak memory and also times streaming blocks.",
    "Dry and wet were peak-normalised separately (destroying the device's gain); splits had no seed and "
    "a global torch.seed() made runs irreproducible. Ours normalises each pair with one gain, seeds "
    "every split, crop and initialisation from params.yaml, and resumes runs bit for bit.",
)

@dataclass(frozen=True)
class Table:
    """A table the report shows: the stage's file stem and its caption."""

    stem: str
    caption: str


@dataclass(frozen=True)
class Figure:
    """Figures the report shows: a glob under the figures folder and their caption."""

    pattern: str
    caption: str


SECTIONS = (
    Section("Environment", "The machine and software that produced these numbers.", extra="environment"),
    Section("Datasets (thesis Tables 3–4, Figures 8–11)",
            "Per subset and side: items, length, size, level statistics and an SNR lower bound; three "
            "dry/wet waveform overlays and spectrogram pairs per dataset.",
            tables=(Table("table3_springset_overview", "The SpringSet-layout dataset ({springset}): items, length, "
                          "size and levels per subset and side (dry x, wet y)."),
                    Table("table4_egfxset_overview", "The EGFxSet-layout dataset ({egfxset}): items, length, size "
                          "and levels per pickup position and side.")),
            figures=(Figure("fig08_*.png", "SpringSet layout ({springset}): dry and wet waveforms of three items."),
                     Figure("fig09_*.png", "SpringSet layout ({springset}): dry and wet spectrograms."),
                     Figure("fig10_*.png", "EGFxSet layout ({egfxset}): dry and wet waveforms of three items."),
                     Figure("fig11_*.png", "EGFxSet layout ({egfxset}): dry and wet spectrograms."))),
    Section("The default tank against the real Accutronics 4EB2C1B",
            "The synthetic tank measured with the same protocols as four real SpringSet notes: Linear IR "
            "fitted on 3 notes and scored on a 4th, on the whole training subset, centroids dry and wet, "
            "decay, levels; mean dry/wet spectra and decay curves.",
            tables=(Table("calibration", "The tank ({springset}) beside the real device's published measurements."),),
            figures=(Figure("calibration.png", "Mean dry and wet spectra and decay curves of the tank."),)),
    Section("Dataset descriptors (thesis §3.2.3, Figures 12–13)",
            "Nine Essentia descriptors per item, mean ± standard deviation per split, dry (x) vs wet (y).",
            tables=(Table("springset_descriptors", "Descriptors of the SpringSet-layout dataset ({springset}), "
                          "mean ± standard deviation per split and side."),
                    Table("egfxset_descriptors", "Descriptors of the EGFxSet-layout dataset ({egfxset}), "
                          "mean ± standard deviation per pickup position and side.")),
            figures=(Figure("springset_descriptors.png", "Descriptor distributions, SpringSet layout ({springset})."),
                     Figure("egfxset_descriptors.png", "Descriptor distributions, EGFxSet layout ({egfxset})."))),
    Section("Models (thesis Table 6)",
            "Named configurations with their parameter counts beside the thesis's and their true receptive "
            "fields.", extra="models"),
    Section("Training (thesis Table 7)",
            "One run per model and sample rate: its training loss (from the run's own configuration), the best "
            "validation loss, the validation ESR and MR-STFT, and the training throughput.",
            figures=(Figure("train/*.png", "Training and validation loss and the learning rate of one run; the "
                            "axis names the run's loss."),), extra="training"),
    Section("Hyperparameter scaling (thesis §3.3.1, Table 5)",
            "A seeded sample of the search space, pruned by successive halving.",
            tables=(Table("search_ranking", "Ranked configurations of the search."),),
            figures=(Figure("search_*.png", "Validation loss per rung of the successive halving."),)),
    Section("Baselines (thesis Table 8)",
            "Naive (dry as prediction), Silence, Noise ceiling, Linear IR and the TCN-baseline on the test split; "
            "means with {confidence} BCa bootstrap intervals over {n_resamples} resamples.",
            tables=(Table("table8_baselines", "Baselines on the test split of each dataset, beside the thesis's Table 8."),),
            figures=(Figure("baselines_*.png", "The Linear IR baseline's impulse response, fitted on the training pairs."),)),
    Section("Results (thesis Tables 9–10, Figure 15)",
            "Every trained model on the test split, whole items, per-item means with {confidence} BCa bootstrap "
            "intervals, beside its receptive-field bound: the least-squares FIR as long as the model's receptive "
            "field (recurrent models: the item), fitted on the training split and scored on the same items. The gap "
            "(ESR / bound ESR) says whether a model is limited by its architecture (gap near or below 1) or by "
            "its training (far above 1); the learning curves say whether a run had converged when it stopped.",
            tables=(Table("table9_16k", "Test results at 16 kHz (SpringSet layout, {springset}), beside the thesis's "
                          "Table 9."),
                    Table("table10_48k", "Test results at 48 kHz (EGFxSet layout, {egfxset}), beside the thesis's "
                          "Table 10.")),
            figures=(Figure("fig15_*.png", "Prediction (blue) over target (orange) for the same test items, one row "
                            "per model."),
                     Figure("bound_esr_*.png", "Test ESR against receptive field: each model over the bound curve."),
                     Figure("learning_curves_*.png", "Validation ESR against training CPU time, every run of one rate.")),
            extra="bounds"),
    Section("Listening", "The test items of Figure 15 as sound: the dry input, the target (the device's output) "
            "and every system's prediction of it, at one gain per item so their levels compare; then each "
            "system's sine-sweep impulse response, each at −1 dBFS peak.", extra="audio"),
    Section("Efficiency (thesis Table 11)",
            "Real-time factor and memory, offline (the thesis's method, done right) and streaming.",
            tables=(Table("table11_efficiency", "Real-time factor and memory of every model, beside the thesis's "
                          "Table 11."),),
            figures=(Figure("efficiency_*.png", "Streaming real-time factor against block size and against "
                            "parameters."),)),
    Section("Export: the models as files a real-time host loads",
            "Every trained model exported to TorchScript and ONNX (dynamic batch and time axes), each file loaded "
            "back and run against its model.",
            tables=(Table("export", "Exported files: size, the largest difference between the file's output and "
                          "the model's, and the hosts that load each format."),)),
    Section("The knobs: do models follow a spring reverb's controls? (beyond the thesis)",
            "A dataset where every item went through the tank at its own setting of four knobs (decay, tone, "
            "dwell, mix; a seeded Latin hypercube). Each conditioned model (FiLM, knobs concatenated to a GRU's "
            "input, HyperGRU) beside the unconditioned model of its family trained on the same items, scored on "
            "settings never seen in training (inside the ranges and at their 16 corners), with the paired "
            "difference; and, for a sweep of the decay knob, each model's sine-sweep RT60 against the tank's true "
            "RT60.", tables=(Table("knobs_results", "Conditioned and unconditioned models on unseen knob settings."),),
            figures=(Figure("knobs_*.png", "Error by knob setting, and RT60 across the decay sweep."),), extra="knobs"),
    Section("Impulse responses and RT60 (thesis Figures 16–19)",
            "Sine-sweep impulse responses of the device and the models, waterfalls, decay times per band "
            "and energy decay curves with their fitted lines.", extra="rt60",
            figures=(Figure("fig16_*.png", "Sine-sweep impulse responses of the device and every model."),
                     Figure("fig17_*.png", "Waterfalls (cumulative spectral decay)."),
                     Figure("fig18_*.png", "RT60 (from T30) per octave band and its error against the device."),
                     Figure("fig19_*.png", "Energy decay curves with the fitted line of each estimate."))),
)


__all__ = ["CORRECTIONS", "Figure", "SECTIONS", "Section", "Table"]
