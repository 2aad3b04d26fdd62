"""Download a model from the Hugging Face Hub (only the files a conversion needs) into its cache.

`huggingface_hub` does the work: its cache (HF_HOME / HF_HUB_CACHE), its progress bars, HF_TOKEN
and HF_HUB_OFFLINE. This module turns its failures into messages that say what to do.
"""

import os
from pathlib import Path

import huggingface_hub
from huggingface_hub import errors

from sitegen.errors import SitegenError
from sitegen.loaders.hf_folder import WANTED_FILES


def _token_hint() -> str:
    if os.environ.get("HF_TOKEN") or huggingface_hub.get_token():
        return "Your token is set; check that it belongs to an account that was granted access."
    return "No token is set: create one at https://huggingface.co/settings/tokens and export HF_TOKEN=..."


def download(repo: str, revision: str | None) -> Path:
    where = f"{repo}@{revision}" if revision else repo
    try:
        folder = huggingface_hub.snapshot_download(repo, revision=revision, allow_patterns=WANTED_FILES)
    except errors.GatedRepoError:
        raise SitegenError(f"{where} is a gated repository: accept its licence at "
                           f"https://huggingface.co/{repo} while logged in, then use a token of that "
                           f"account. {_token_hint()}") from None
    except errors.RepositoryNotFoundError:
        raise SitegenError(f"{where}: no such model repository on the Hugging Face Hub, or it is "
                           f"private. Check the spelling (org/name); for a private repo {_token_hint()}") from None
    except errors.RevisionNotFoundError:
        raise SitegenError(f"{repo} has no revision {revision!r}; give a branch, tag or commit that "
                           f"exists (see https://huggingface.co/{repo}/commits/main).") from None
    except errors.HFValidationError as err:
        raise SitegenError(f"{where!r} is not a valid Hugging Face repo id ({err}).") from None
    except (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled, OSError) as err:
        raise SitegenError(f"Could not download {where}: huggingface.co is unreachable and the model "
                           f"is not in the local Hugging Face cache ({type(err).__name__}). Connect to "
                           "the network (or unset HF_HUB_OFFLINE), or pass a local folder or .gguf "
                           "file with --model.") from None
    except errors.HfHubHTTPError as err:
        raise SitegenError(f"The Hugging Face Hub refused the download of {where}: {err}") from None
    return Path(folder)
