"""Models of the study (thesis §3.1): TCN, WaveNet, GCN, LSTM, LSTM-cs and GRU.

Every model is a causal map (B, 1, T) -> (B, 1, T) with an optional FiLM conditioning vector,
and reports ``num_parameters`` and its true ``receptive_field`` in samples. Named
configurations (thesis Table 6) live in ``registry`` as data::

    from springstudy import models
    models.list_models()          # ['TCN-baseline', 'TCN-1800', ...]
    net = models.build("GCN-250", seed=0)
    models.config_table()         # parameter counts and receptive fields beside the thesis's
    models.list_knob_models()     # the knob study's: ['GCN-250-FiLM', ..., 'HyperGRU-32']
    models.build("HyperGRU-32")(x, knobs)   # knobs (B, 4) in [0, 1], or a trajectory (B, 4, T)
"""

from springstudy.models.base import SpringModel
from springstudy.models.causal import CausalConv1d, receptive_field
from springstudy.models.checkpoint import load_checkpoint, save_checkpoint
from springstudy.models.conditioned import FiLMNet, HyperGRU, KnobGRU, apply_model, is_conditioned
from springstudy.models.film import FiLM
from springstudy.models.gcn import GCN, gcn_receptive_field
from springstudy.models.recurrent import GRU, LSTM, LSTMConvSkip, RecurrentNet
from springstudy.models.registry import (CONFIGS, FAMILIES, KNOB_CONFIGS, NamedConfig, build, config_table,
                                         get_config, list_knob_models, list_models, register_model)
from springstudy.models.tcn import TCN, tcn_receptive_field
from springstudy.models.wavenet import WaveNet, wavenet_receptive_field

__all__ = [
    "CONFIGS", "FAMILIES", "GCN", "GRU", "KNOB_CONFIGS", "LSTM", "TCN", "CausalConv1d", "FiLM", "FiLMNet",
    "HyperGRU", "KnobGRU", "LSTMConvSkip", "NamedConfig", "RecurrentNet", "SpringModel", "WaveNet", "apply_model",
    "build", "config_table", "gcn_receptive_field", "get_config", "is_conditioned", "list_knob_models",
    "list_models", "load_checkpoint", "receptive_field", "register_model",
    "save_checkpoint", "tcn_receptive_field", "wavenet_receptive_field",
]
