"""The command table machinery: one click command per ddb command.

The same table serves one-shot runs, command files and (later) the shell:
``run_command(table, session, argv)`` parses with click, maps click's
complaints to DAOS ddb's wording, and lets DdbError through to the caller's
single error path. Help text follows DAOS ddb's layout (Usage / Args /
Flags) rather than click's.
"""
from __future__ import annotations

import click

from vosfmt import VosError

from .errors import DdbError, ExitCode, QuitRequested, unreadable


class Info:
    """What the table knows about a command beyond its click parameters."""
    __slots__ = ("group", "self_managed", "args_help")

    def __init__(self, group: str | None = "vos", self_managed: bool = False,
                 args_help: dict | None = None):
        self.group = group
        self.self_managed = self_managed    # opens/closes pools itself: no auto-open of -s
        self.args_help = args_help


class DdbCommand(click.Command):
    def __init__(self, *args, info: Info | None = None, **kwargs):
        kwargs.setdefault("context_settings", {})
        kwargs["context_settings"].update(allow_interspersed_args=False,
                                          help_option_names=["-h", "--help"])
        super().__init__(*args, **kwargs)
        self.info = info or Info()

    def usage_line(self) -> str:
        args = []
        for p in self.params:
            if isinstance(p, click.Argument):
                args.append(p.name if p.required else f"[{p.name}]")
        return " ".join([self.name, "[flags]", *args])

    def get_help(self, ctx) -> str:
        lines = ["", self.help or self.short_help or "", "", "Usage:", "  " + self.usage_line()]
        args = [p for p in self.params if isinstance(p, click.Argument)]
        if args:
            lines += ["", "Args:"]
            helps = self.info.args_help or {}
            rows = [(p.name, "string", helps.get(p.name, "")) for p in args]
            w0 = max(len(r[0]) for r in rows)
            for name, typ, text in rows:
                lines.append(f"  {name:<{w0}}  {typ}  {text}".rstrip())
        flags = [("-h, --help", "display help")]
        for p in self.params:
            if isinstance(p, click.Option):
                names = ", ".join(sorted(p.opts, key=len))
                if not p.is_flag:
                    names += " " + ("uint" if isinstance(p.type, click.types.IntParamType) else "string")
                text = p.help or ""
                if not p.is_flag and p.default not in (None, ""):
                    text += f" (default: {p.default})"
                flags.append((names, text))
        w = max(len(f) for f, _ in flags)
        lines += ["", "Flags:"] + [f"  {f:<{w}}  {t}".rstrip() for f, t in flags]
        return "\n".join(lines)


def command(table: dict, name: str, short: str, *, group: str | None = "vos",
            self_managed: bool = False, args_help: dict | None = None, long: str | None = None):
    """Register a ddb command (callback takes the Session first) in ``table``, in order."""
    def deco(fn):
        params = list(reversed(getattr(fn, "__click_params__", [])))

        def callback(**kwargs):
            return fn(click.get_current_context().obj, **kwargs)

        cmd = DdbCommand(name, callback=callback, params=params, help=long or short,
                         short_help=short, info=Info(group, self_managed, args_help),
                         add_help_option=True)
        table[name] = cmd
        return cmd
    return deco


def run_command(table: dict, session, argv: list[str]) -> None:
    """Run one command line (already split into words) against the session.

    This is the one place where a command's failure becomes the user's
    error, for one-shot runs, command files and the shell alike: a VosError
    (a damaged or missing structure) is reported as its own message, and any
    other exception met while a shard is open is taken for damage the
    decoders did not catch (one line; --debug lets it through with its traceback).
    """
    name, args = argv[0], argv[1:]
    cmd = table.get(name)
    if cmd is None:
        raise DdbError(f"Unknown command: '{name}'. Run 'help' to see available commands.")
    try:
        cmd.main(args, prog_name=name, standalone_mode=False, obj=session)
    except (QuitRequested, ExitCode, DdbError):
        raise
    except VosError as e:
        raise DdbError(str(e)) from None
    except click.MissingParameter as e:
        raise DdbError(f"missing argument '{e.param.name if e.param else '?'}'") from None
    except click.NoSuchOption as e:
        raise DdbError(f"invalid flag: {e.option_name}") from None
    except click.BadOptionUsage as e:
        raise DdbError(f"missing string value for flag: {e.option_name}") from None
    except click.BadParameter as e:
        raise DdbError(f"invalid value: {e.format_message()}") from None
    except click.UsageError as e:
        msg = e.format_message()
        if "unexpected extra argument" in msg:
            extra = msg.split("(", 1)[-1].rstrip(")")
            raise DdbError(f"invalid usage of command '{name}' (unconsumed input '{extra}'), "
                           "try 'help'") from None
        raise DdbError(msg) from None
    except click.Abort:
        raise KeyboardInterrupt from None
    except Exception as e:
        if session.shard is None or session.debug:
            raise
        raise unreadable(session.path, e) from None
    finally:
        session.out.flush()
