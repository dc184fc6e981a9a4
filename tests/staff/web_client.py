"""The staff web app served in the test's own event loop on a free port, and
an HTTP client that handles cookies by hand (so tests can drop, forge or
replay them) and never follows redirects."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from http.cookies import Morsel, SimpleCookie
from typing import Dict, Mapping, Optional

import aiohttp
from sanic import Sanic

from staff.web import create_app
from tests.stack_common import free_port

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    body: str
    set_cookies: Dict[str, Morsel]

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    @property
    def csrf(self) -> str:
        found = CSRF_FIELD.search(self.body)
        assert found, "no CSRF field on this page"
        return found.group(1)


class StaffClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies: Dict[str, str] = {}
        self._http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())

    async def close(self) -> None:
        await self._http.close()

    async def request(self, method: str, path: str, form: Optional[Dict[str, str]] = None,
                      cookies: Optional[Dict[str, str]] = None) -> Reply:
        jar = self.cookies if cookies is None else cookies
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
        async with self._http.request(method, self.base_url + path, data=form, headers=headers, allow_redirects=False) as answer:
            body = await answer.text()
            set_cookies = {name: morsel for name, morsel in answer.cookies.items()}
            if cookies is None:
                self._remember(answer.headers.getall("Set-Cookie", []))
            return Reply(answer.status, answer.headers, body, set_cookies)

    def _remember(self, raw_headers) -> None:
        for raw in raw_headers:
            parsed = SimpleCookie()
            parsed.load(raw)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or not morsel.value:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def get(self, path: str, **kwargs) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, form: Optional[Dict[str, str]] = None, **kwargs) -> Reply:
        return await self.request("POST", path, form=form or {}, **kwargs)

    async def sign_in(self, user: str, password: str, next_path: str = "") -> Reply:
        form_page = await self.get("/login" + (f"?next={next_path}" if next_path else ""))
        return await self.post("/login", {"csrf": form_page.csrf, "username": user, "password": password,
                                          "next": next_path or "/conversations"})


class ServedApp:
    def __init__(self, app: Sanic) -> None:
        self.app = app

    async def start(self) -> "ServedApp":
        port = free_port()
        self.server = await self.app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=True)
        await self.server.startup()
        await self.server.after_start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        await self.server.before_stop()
        self.server.close()
        await self.server.wait_closed()
        await self.server.after_stop()


async def serve(config, **options) -> ServedApp:
    # test mode: Sanic 21.12 rewrites its request handler at each startup, which
    # fails from the second app of a process unless it keeps the original
    Sanic.test_mode = True
    return await ServedApp(create_app(config, name=f"staff_test_{uuid.uuid4().hex}", **options)).start()
