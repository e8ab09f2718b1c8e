"""The run config, in layers: six groups of fields by concern, composed into :class:`RunConfig`.

- :mod:`sltsim.config.base`: what the groups share (a field with its help text, the checks);
- :mod:`sltsim.config.search`: the search group and each method's options;
- :mod:`sltsim.config.groups`: the training, model, data, planted and execution groups;
- :mod:`sltsim.config.run`: :class:`RunConfig`, the checks across groups, and the key;
- :mod:`sltsim.config.memory`: the engine's memory footprint, checked before a run.

Every field has a default; a record's key hashes only the fields of the keyed groups that
differ from these defaults, plus the seed, so adding a field with a default never moves old
results. The names a field may hold (methods, plants, data sets, schedules, inits) are read
from :mod:`sltsim.registry`, which imports nothing from sltsim, so no import cycle runs
through the config.
"""

from sltsim.config.base import Group
from sltsim.config.groups import DataConfig, ExecutionConfig, ModelConfig, PlantedConfig, TrainingConfig
from sltsim.config.memory import footprint, physical_memory
from sltsim.config.run import DERIVED_FIELD, EXECUTION_FIELDS, GROUPS, KEY_DEFAULTS, PLANTED_ONLY, RunConfig
from sltsim.config.search import SearchConfig, method_options
from sltsim.registry import get

__all__ = ["DERIVED_FIELD", "EXECUTION_FIELDS", "GROUPS", "KEY_DEFAULTS", "PLANTED_ONLY", "DataConfig",
           "ExecutionConfig", "Group", "ModelConfig", "PlantedConfig", "RunConfig", "SearchConfig",
           "TrainingConfig", "footprint", "get", "method_options", "physical_memory"]
