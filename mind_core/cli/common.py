"""What the ``mind-core`` commands share: progress bars, result tables, config options derived
from :class:`~mind_core.config.MINDConfig`'s fields, and loading a bundle with its data."""

from __future__ import annotations

import argparse
from dataclasses import fields

from tqdm import tqdm

from mind_core import protocols
from mind_core.artifacts import check_fingerprint, load_bundle
from mind_core.artifacts.foreground import yielding
from mind_core.config import FieldKind, MINDConfig, field_kind
from mind_core.errors import UsageError
from mind_core.workflow.defaults import dataset_config, dataset_protocol
from mind_core.workflow.pipeline import bundle_data
from mind_core.workflow.start import choose_start

METRIC_ORDER = protocols.get(protocols.DEFAULT).METRICS


def tqdm_progress(desc: str):
    """A progress callback drawing one tqdm bar per epoch with the running loss."""
    state = {"bar": None}

    def progress(event, info):
        if event == "batch":
            if state["bar"] is None:
                state["bar"] = tqdm(total=info["steps"], desc=f"{desc} epoch {info['epoch']}",
                                    leave=False, unit="batch")
            state["bar"].update(1)
            state["bar"].set_postfix(loss=f"{info['loss']:.4f}")
        elif event == "epoch":
            if state["bar"] is not None:
                state["bar"].close()
                state["bar"] = None
            tqdm.write(epoch_line(desc, info))
        elif event == "stage":
            tqdm.write(f"{desc} {info['message']}")

    return progress


def epoch_line(desc: str, info: dict) -> str:
    """One finished epoch (a training's "epoch" event) in a line, named by ``desc``."""
    name = "Recall@50" if "valid_Recall@50" in info else "HR@50"
    return (f"{desc} epoch {info['epoch']:>2}: loss {info['loss']:.4f}  valid {name} "
            f"{info[f'valid_{name}']:.4f}  ({info['seconds']:.1f}s, best epoch "
            f"{info['best_epoch']})")


def config_from_args(args) -> MINDConfig:
    """The dataset's starting configuration (:func:`mind_core.workflow.defaults.dataset_config`:
    MINDConfig's defaults, its declared protocol and the start chosen on validation, if
    chosen) overridden by whichever ``--field`` options were given."""
    try:
        return dataset_config(getattr(args, "dataset", None) or "", **overrides(args))
    except ValueError as e:
        raise UsageError(str(e)) from None


def overrides(args) -> dict:
    """The ``--field`` options given on the command line."""
    return {f.name: getattr(args, f.name) for f in fields(MINDConfig)
            if getattr(args, f.name, None) is not None}


def background_aware(args, progress):
    """``progress`` as is, or with ``--background`` pausing between batches while the app
    trains a person's request (:func:`mind_core.artifacts.foreground.yielding`)."""
    return yielding(progress) if getattr(args, "background", False) else progress


def ensure_start(args, with_serving: bool = True, with_map: bool = True) -> None:
    """Choose the dataset's start on validation if it is not chosen yet
    (:func:`mind_core.workflow.start.choose_start`; trains its candidates), unless
    ``--no-start-choice``."""
    if getattr(args, "no_start_choice", False):
        return
    changes = overrides(args)
    protocol = changes.pop("protocol", None) or dataset_protocol(args.dataset)
    record = choose_start(args.dataset, protocol, background_aware(args, tqdm_progress("start")),
                          with_serving=with_serving, with_map=with_map, **changes)
    print(f"start: {record['chosen']} {record['changes'] or '(the defaults)'}, chosen by "
          f"{record['by']}")


def add_config_options(p, skip: tuple[str, ...] = ()) -> None:
    """One ``--field-name`` option per MINDConfig field, typed from its annotation
    (:func:`mind_core.config.field_kind`): a field of a type it cannot parse fails here, when
    the parser is built, instead of silently becoming a string option."""
    for f in fields(MINDConfig):
        if f.name in skip:  # the command gives this option a meaning of its own
            continue
        kind = field_kind(MINDConfig, f.name)
        flag = "--" + f.name.replace("_", "-")
        default = "one layer of 2 x embed-dim" if f.name == "mlp_hidden" else f.default
        p.add_argument(flag, dest=f.name, type=option_parser(kind),
                       nargs="+" if kind.many else None,
                       metavar=kind.scalar.__name__.upper(), help=f"default {default}")


def option_parser(kind: FieldKind):
    """An argparse ``type`` for one field (argparse names the option in its error)."""

    def parse(text: str):
        try:
            return kind.parse(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    return parse


def format_table(rows: dict[str, dict], metrics: list[str] = METRIC_ORDER) -> str:
    head = f"{'model':<16}" + "".join(f"{m:>14}" for m in metrics)
    lines = [head, "-" * len(head)]
    for name, values in rows.items():
        cells = []
        for m in metrics:
            v = values.get(m)
            cells.append(f"{v:>14}" if isinstance(v, str) else f"{v:>14.4f}")
        lines.append(f"{name:<16}" + "".join(cells))
    return "\n".join(lines)


def bundle_and_data(path):
    """The bundle and its data, split under the bundle's own protocol; refused if the data
    is not what it was trained on."""
    bundle = load_bundle(path)
    data = bundle_data(bundle)
    check_fingerprint(bundle, data.encoded)
    return bundle, data
