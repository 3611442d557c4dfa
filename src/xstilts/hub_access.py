"""Whether the Hugging Face hub can be reached, decided once per process.

Without internet (this machine, a cluster's compute nodes), `transformers` and `datasets` retry every hub request with
back-off, half a minute per file and a dozen warning lines, before they fail. xstilts asks once instead, right before its
first hub access (a model given by hub id, a dataset read from the hub): `HF_HUB_OFFLINE` (or `TRANSFORMERS_OFFLINE`;
`HF_DATASETS_OFFLINE` for datasets) set, or a quick probe of the hub endpoint (`$HF_ENDPOINT`) that gets no answer
within PROBE_TIMEOUT_S, puts the libraries in their offline mode for the rest of the process: what the local hub cache
(HF_HOME) holds still loads, anything else fails at once, and the callers turn that into one UserError naming the offline
alternatives.

Local folders, the model aliases (`embedded`, ...) and a local hub mirror ($XSTILTS_HUB_MIRROR) never reach this module:
they load without any probe.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

DEFAULT_ENDPOINT = "https://huggingface.co"
PROBE_TIMEOUT_S = 2.5
_TRUE = {"1", "ON", "YES", "TRUE"}  # what huggingface_hub reads as a true flag
_PROBED: dict[str, bool] = {}  # endpoint -> whether it answered, once per process


def hub_endpoint() -> str:
    """The hub's base URL: $HF_ENDPOINT (a mirror or a private hub) or huggingface.co."""
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in _TRUE


def offline_flag(datasets: bool = False) -> str | None:
    """The environment variable that puts the hub offline for models (or, with `datasets`, for datasets), if one does."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") + (("HF_DATASETS_OFFLINE",) if datasets else ())
    return next((n for n in names if _flag(n)), None)


def _probe(endpoint: str, timeout: float) -> bool:
    """One HEAD request to the endpoint, bounded by `timeout` in all (name resolution included): any answer, an HTTP
    error status or a TLS complaint included, means the network reaches it. Honours the proxy variables."""
    import ssl
    import urllib.error
    import urllib.request

    answered: list[bool] = []

    def ask() -> None:
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
            answered.append(True)
        except urllib.error.HTTPError:
            answered.append(True)
        except urllib.error.URLError as e:
            answered.append(isinstance(e.reason, ssl.SSLError))
        except Exception:  # noqa: BLE001 - a timeout, a refused or reset connection: no answer
            answered.append(False)

    thread = threading.Thread(target=ask, name="xstilts-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(answered and answered[0])


def hub_reachable() -> bool:
    """Whether the hub endpoint answered a probe; probed once per process and endpoint."""
    endpoint = hub_endpoint()
    if endpoint not in _PROBED:
        _PROBED[endpoint] = _probe(endpoint, PROBE_TIMEOUT_S)
    return _PROBED[endpoint]


def quiet_retries() -> None:
    """No "Retrying in 1s [Retry 1/5]" / "... thrown while requesting HEAD ..." warnings from huggingface_hub."""
    logging.getLogger("huggingface_hub.utils._http").setLevel(logging.ERROR)


def set_libraries_offline(hub: bool = True) -> None:
    """Offline mode for datasets and (`hub`) huggingface_hub and transformers in this process, whether they are imported
    already or later (a later `datasets` import reads huggingface_hub's flag); the environment is left as it is."""
    if hub:
        import huggingface_hub.constants as hub_constants  # light; transformers reads its flag on every call

        hub_constants.HF_HUB_OFFLINE = True
    config = sys.modules.get("datasets.config")  # reads its flags at import: set them if it is imported already
    if config is not None:
        config.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
        config.HF_DATASETS_OFFLINE = True  # type: ignore[attr-defined]


def hub_offline(datasets: bool = False) -> str | None:
    """Why hub accesses are offline in this process (None: the hub answers), called right before one.

    Offline, the libraries are switched to their offline mode, so the local hub cache still serves what it holds and
    everything else fails at once rather than after retries; callers add the reason to their one-line error.
    """
    quiet_retries()
    endpoint = hub_endpoint()
    no_answer = f"no answer from {endpoint} within {PROBE_TIMEOUT_S:g} s"
    if _PROBED.get(endpoint) is False:
        return no_answer
    flag = offline_flag(datasets)
    if flag is not None:  # honoured even where set after the libraries were imported
        set_libraries_offline(hub=flag != "HF_DATASETS_OFFLINE")
        return f"{flag} is set"
    if hub_reachable():
        return None
    set_libraries_offline()
    return no_answer
