"""toolwire-shipping: what backends that run tools in other processes share.

- `toolwire_shipping.packing` (the parent's side): each tool's invoker serialised once (pickle, or dill for
  what pickle cannot carry), under a content key.
- `toolwire_shipping.unpacking` (the worker's side): invokers loaded once per key, with no import beyond
  the standard library until a tool needs one.
- `toolwire_shipping.unloadable`: loading calls whose arguments name a class the worker cannot import, so
  that only those calls fail.
- `toolwire_shipping.records`: a call's error as the plain `(kind, message)` pair workers send back.

This module imports nothing: workers import the submodules they need, and nothing more.
"""
