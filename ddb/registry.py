"""The command machinery: one click command per ddb command, DAOS ddb's help and errors.

The same commands serve one-shot runs, command files and the shell:
``run_command(table, session, argv)`` parses with click, maps click's
complaints to DAOS ddb's wording and a VosError to the user's error
(ddb.errors.user_error), and lets DdbError through to the caller's single
error path. Help text follows DAOS ddb's layout (Usage / Args / Flags)
rather than click's, for every command including the ``check`` group.
Which commands exist, and where, is the manifest's business (ddb.manifest).
"""
from __future__ import annotations

import textwrap

import click

from vosfmt import VosError

from .errors import DdbError, ExitCode, QuitRequested, unreadable, user_error


def _wrapped(text: str, width: int = 80) -> list[str]:
    """A help text as lines: a paragraph with a line over ``width`` columns is filled to it,
    others keep their lines as written."""
    out = []
    for para in text.split("\n\n"):
        if out:
            out.append("")
        fits = all(len(line) <= width for line in para.splitlines())
        out += para.splitlines() if fits else textwrap.wrap(para, width)
    return out or [""]


class DaosHelp:
    """DAOS ddb's help layout, for a click command or group: the long help, ``Usage:``
    (required arguments bare, optional ones in brackets), ``Args:``, ``Flags:`` and,
    for a group, ``Commands:``. ``args_help`` describes the arguments (click has no
    help text for them)."""
    args_help: dict | None = None

    def usage_line(self, ctx=None) -> str:
        args = []
        for p in self.params:
            if isinstance(p, click.Argument):
                shown = p.name + ("..." if p.nargs == -1 else "")
                args.append(shown if p.required else f"[{shown}]")
        if isinstance(self, click.Group):
            args.append("command")
        name = ctx.command_path if ctx is not None else self.name
        return " ".join([name, "[flags]", *args])

    def __init__(self, *args, args_help: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.args_help = args_help

    def get_help(self, ctx) -> str:
        text = self.help or self.short_help or ""
        lines = ["", *_wrapped(text), "", "Usage:", "  " + self.usage_line(ctx)]
        args = [p for p in self.params if isinstance(p, click.Argument)]
        if args:
            lines += ["", "Args:"]
            helps = self.args_help or {}
            rows = [(p.name, "string", helps.get(p.name, "")) for p in args]
            w0 = max(len(r[0]) for r in rows)
            for name, typ, text in rows:
                lines.append(f"  {name:<{w0}}  {typ}  {text}".rstrip())
        flags = [(", ".join(sorted(self.get_help_option_names(ctx), key=len)), "display help")]
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
        if isinstance(self, click.Group):
            subs = [(n, c.get_short_help_str(limit=1000)) for n, c in self.commands.items()]
            w = max(len(n) for n, _ in subs)
            lines += ["", "Commands:"] + [f"  {n:<{w}}  {t}".rstrip() for n, t in subs]
        return "\n".join(lines)


class DdbCommand(DaosHelp, click.Command):
    """A ddb command: DAOS ddb's parsing rules (flags before arguments, -h/--help)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("context_settings", {})
        kwargs["context_settings"].update(allow_interspersed_args=False,
                                          help_option_names=["-h", "--help"])
        super().__init__(*args, **kwargs)


class DdbSubcommand(DaosHelp, click.Command):
    """A subcommand of a DdbGroup: click's parsing, DAOS ddb's help."""


class DdbGroup(DaosHelp, click.Group):
    """A command with subcommands (``check``): DAOS ddb's help for it and its subcommands."""
    command_class = DdbSubcommand


def command(name: str, short: str, *, args_help: dict | None = None, long: str | None = None):
    """Make a ddb command (its callback takes the Session first); the module defining it
    must be the one its manifest row names (ddb.commands finds it there)."""
    def deco(fn):
        params = list(reversed(getattr(fn, "__click_params__", [])))

        def callback(**kwargs):
            return fn(click.get_current_context().obj, **kwargs)

        return DdbCommand(name, callback=callback, params=params, help=long or short,
                          short_help=short, args_help=args_help, add_help_option=True)
    return deco


def unknown_command(name: str) -> DdbError:
    return DdbError(f"Unknown command: '{name}'. Run 'help' to see available commands.")


def run_command(table: dict, session, argv: list[str]) -> None:
    """Run one command line (already split into words) against the session.

    This is the one place where a command's failure becomes the user's
    error, for one-shot runs, command files and the shell alike: a VosError
    (a damaged or missing structure) is reported as its own message, and any
    other exception met while a shard is open is taken for damage the
    decoders did not catch (one line; --debug lets it through with its traceback).
    """
    name, args = argv[0], argv[1:]
    if name not in table:
        raise unknown_command(name)
    cmd = table[name]
    try:
        cmd.main(args, prog_name=name, standalone_mode=False, obj=session)
    except (QuitRequested, ExitCode, DdbError):
        raise
    except VosError as e:
        raise user_error(e) from None
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
