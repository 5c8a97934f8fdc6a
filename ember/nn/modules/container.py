"""Containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator

from ember.nn.module import Module
from ember.nn.parameter import Parameter, bump_state_version


class _Ordered(Module):
    """Children kept in order under the names "0", "1", ... (Sequential may name them).
    Every change bumps the state version, so compiled steps see the new tree."""

    def _key(self, idx: int) -> str:
        if not -len(self) <= idx < len(self):
            raise IndexError(
                f"index {idx} is out of range for {type(self).__name__} of {len(self)}"
            )
        return list(self._modules)[idx % len(self)]

    def _renumber(self, modules: list) -> None:
        for m in modules:
            _check_module(m)
        self._modules.clear()
        for i, m in enumerate(modules):
            self._modules[str(i)] = m
        bump_state_version()

    def __setitem__(self, idx: int, module: Module) -> None:
        self._modules[self._key(idx)] = _check_module(module)  # keeps its position
        bump_state_version()

    def __delitem__(self, idx: int | slice) -> None:
        mods = list(self._modules.values())
        if not isinstance(idx, slice):
            self._key(idx)  # IndexError when out of range
        del mods[idx]
        self._renumber(mods)

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, module)
        self._renumber(mods)

    def pop(self, idx: int = -1) -> Module:
        module = self._modules[self._key(idx)]
        del self[idx]
        return module

    def extend(self, modules: Iterable[Module]):
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())


def _check_module(module) -> Module:
    if not isinstance(module, Module):
        raise TypeError(f"a container holds Modules, got {type(module).__name__}")
    return module


class Sequential(_Ordered):
    """Modules applied in order; accepts modules or an OrderedDict of named modules."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    def forward(self, input):
        for m in self._modules.values():
            input = m(input)
        return input

    def __getitem__(self, idx):
        mods = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(mods[idx]))
        return mods[idx][1]

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self


class ModuleList(_Ordered):
    def __init__(self, modules: Iterable[Module] | None = None):
        super().__init__()
        for m in modules or ():
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, idx):
        mods = list(self._modules.values())
        return ModuleList(mods[idx]) if isinstance(idx, slice) else mods[idx]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward; iterate over it in your forward")


class ModuleDict(Module):
    def __init__(self, modules=None):
        super().__init__()
        for name, m in dict(modules or {}).items():
            self[name] = m

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __contains__(self, key: str) -> bool:
        return key in self._modules

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()


class ParameterList(Module):
    def __init__(self, values: Iterable[Parameter] | None = None):
        super().__init__()
        for p in values or ():
            self.append(p)

    def append(self, value: Parameter) -> ParameterList:
        self.register_parameter(str(len(self._parameters)), value)
        return self

    def __getitem__(self, idx: int):
        return getattr(self, str(idx % len(self)))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return (self[i] for i in range(len(self)))


class ParameterDict(Module):
    def __init__(self, parameters=None):
        super().__init__()
        for k, v in dict(parameters or {}).items():
            self[k] = v

    def __getitem__(self, key: str):
        return getattr(self, key)

    def __setitem__(self, key: str, value: Parameter) -> None:
        self.register_parameter(key, value)

    def __contains__(self, key: str) -> bool:
        return key in self._parameters

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self):
        return iter(self._parameters)

    def keys(self):
        return self._parameters.keys()

    def items(self):
        return ((k, self[k]) for k in self._parameters)
