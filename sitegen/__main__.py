"""The `sitegen` command line: one thin click command per verb, each calling one function."""

import functools
import json
from pathlib import Path

import click

from sitegen import __version__
from sitegen.config import click_options, config_schema, load_build_config
from sitegen.errors import SitegenError


def _clear_errors(command):
    """SitegenError -> its message on stderr and exit status 1, no traceback."""
    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except SitegenError as err:
            raise click.ClickException(str(err)) from None
    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sitegen")
def cli():
    """Turn an open LLM into a private chat web app that runs on the visitor's own GPU."""


@cli.command(name="models")
@_clear_errors
def models_command():
    """List model aliases with their sizes, licences and access."""
    from sitegen.commands.models import models_table
    click.echo("\n".join(models_table()))


@cli.command(name="build")
@click_options  # one per BuildConfig field (sitegen/config.py)
@click.option("-f", "--config", "config_file", type=click.Path(path_type=Path),
              help="Config file with the same options (`sitegen schema` describes it). "
              "[default: ./sitegen.yml if present]")
@_clear_errors
def build_command(config_file, **flags):
    """Convert a model and build the static chat site."""
    from sitegen.commands.build import build
    build(load_build_config(config_file, flags))


@cli.command(name="schema")
def schema_command():
    """Print the JSON Schema of sitegen.yml (for editors that check YAML against a schema)."""
    click.echo(json.dumps(config_schema(), indent=2, ensure_ascii=False))


@cli.command(name="generate")
@click.argument("site", type=click.Path(path_type=Path))
@click.option("-p", "--prompt", required=True,
              help="The user message; with --raw or a base model, the start of the text (empty: from the model's BOS "
              "token, where it has one).")
@click.option("--system", help="System prompt (chat mode).")
@click.option("--raw", is_flag=True, help="Continue the prompt text as is, without the chat format (always, for a base model).")
@click.option("--max-tokens", type=click.IntRange(1), default=64, show_default=True)
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True, help="0 = greedy.")
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True)
@click.option("--top-k", type=click.IntRange(0), default=0, show_default=True, help="0 = off.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--model-id", help="Which model of the site, if it holds several.")
@_clear_errors
def generate_command(site, prompt, system, raw, model_id, **sampling):
    """Generate text on the CPU with the numpy reference forward pass (no browser)."""
    from sitegen.commands.generate import generate
    generate(site, prompt, system=system, raw=raw, model_id=model_id, echo=click.echo, **sampling)


@cli.command(name="serve")
@click.argument("site", type=click.Path(path_type=Path), default="site")
@click.option("--host", default="localhost", show_default=True,
              help="Address or name to listen on. localhost listens on both 127.0.0.1 and ::1, so that "
              "http://localhost:PORT/ opens whichever of the two the browser tries (some try ::1 only). 0.0.0.0 serves "
              "every IPv4 network, :: every network (IPv6 and IPv4); over plain http, only localhost, 127.0.0.1 and "
              "[::1] get WebGPU and service workers.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="0 picks a free port; those below 1024 need root.")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in a browser.")
@click.option("--cors", is_flag=True, help="Let pages of other origins read the files (to serve a --weights-url folder).")
@_clear_errors
def serve_command(site, host, port, open_browser, cors):
    """Preview a built site (or the weights folder of a --weights-url build) on a local web server."""
    from sitegen.serve import serve_site
    serve_site(site, host=host, port=port, open_browser=open_browser, cors=cors)


@cli.command(name="deploy")
@click.argument("site", type=click.Path(path_type=Path), default="site")
@click.option("--gh-pages", "gh_pages", is_flag=True, help="Publish to a GitHub Pages branch (the only target so far).")
@click.option("--remote", default="origin", show_default=True, help="Git remote to push to.")
@click.option("--branch", default="gh-pages", show_default=True, help="Branch that GitHub Pages serves.")
@click.option("-m", "--message", help="Commit message. [default: Deploy <site> with sitegen <version>]")
@_clear_errors
def deploy_command(site, gh_pages, remote, branch, message):
    """Publish a built site to a GitHub Pages branch (the working tree is left alone)."""
    if not gh_pages:
        raise SitegenError("choose where to deploy: --gh-pages is the only target so far")
    from sitegen.commands.deploy import deploy_gh_pages
    deploy_gh_pages(site, remote=remote, branch=branch, message=message, log=click.echo)


if __name__ == "__main__":
    cli()
