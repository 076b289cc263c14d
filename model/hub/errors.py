"""huggingface_hub's errors as this app reports them: a failed listing becomes a :class:`~model.errors.CheckpointError`
that says what to do (check the spelling, log in, accept a gated repo's conditions), and any other error is cut to
one short line for a message.
"""

from __future__ import annotations

from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from model.errors import CheckpointError


def listing_error(exc: HfHubHTTPError, repo_id: str, rev: str) -> CheckpointError:
    if isinstance(exc, GatedRepoError):
        return CheckpointError(
            f"'{repo_id}' is a gated repo: accept its conditions on the hub's model page, then log in "
            "(`hf auth login`) or set HF_TOKEN."
        )
    status = exc.response.status_code if exc.response is not None else 0
    if isinstance(exc, RepositoryNotFoundError) or (status == 404 and not isinstance(exc, RevisionNotFoundError)):
        return CheckpointError(
            f"The repo id '{repo_id}' was not found on the Hugging Face hub. Check the spelling (owner/name); a "
            "private repo also needs a login (`hf auth login`)."
        )
    if isinstance(exc, RevisionNotFoundError):
        return CheckpointError(f"'{repo_id}' has no revision '{rev}'.")
    return CheckpointError(f"Listing the files of '{repo_id}' on the hub failed: {short(exc)}")


def short(exc: BaseException) -> str:
    """An error on one line, cut short: huggingface_hub's messages run to several lines of generic advice."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
