"""Lazy paging: lists return iterators that fetch the next page only when it is needed."""

from __future__ import annotations

from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Generic,
    Iterator,
    List,
    Optional,
    Set,
    TypeVar,
)

from .errors import ProviderError
from .types import Page, _import_pandas

if TYPE_CHECKING:  # pragma: no cover
    import pandas  # type: ignore[import-not-found, import-untyped, unused-ignore]

T = TypeVar("T")

__all__ = ["Pager", "AsyncPager"]


def _check_token(token: Optional[str], seen: Set[str]) -> bool:
    """Whether there is a next page; a token handed out twice is reported, not looped on."""
    if token is None:
        return False
    if token in seen:
        raise ProviderError(f"the backend repeated page token {token!r}")
    seen.add(token)
    return True


def _frame(items: List[Any]) -> "pandas.DataFrame":
    return _import_pandas().DataFrame([item._row() for item in items])


class Pager(Generic[T]):
    """Every item of a list, fetched page by page as you iterate.

    Iterating again starts again from the first page. ``pages()`` gives the pages themselves
    (with their tokens); ``to_list()`` and ``to_pandas()`` fetch everything.
    """

    def __init__(self, fetch: Callable[[Optional[str]], Page[T]], what: str) -> None:
        self._fetch = fetch
        self._what = what

    def pages(self) -> Iterator[Page[T]]:
        """The pages, fetched lazily."""
        token: Optional[str] = None
        seen: Set[str] = set()
        while True:
            page = self._fetch(token)
            yield page
            if not _check_token(page.next_page_token, seen):
                return
            token = page.next_page_token

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page.items

    def to_list(self) -> List[T]:
        """Every item."""
        return list(self)

    def to_pandas(self) -> "pandas.DataFrame":
        """Every item as a row of a DataFrame (needs pandas)."""
        return _frame(self.to_list())

    def __repr__(self) -> str:
        return f"<mlm.Pager over {self._what}: iterate it, or call .to_list()>"


class AsyncPager(Generic[T]):
    """The async twin of :class:`Pager`: ``async for item in pager``."""

    def __init__(
        self, fetch: Callable[[Optional[str]], Awaitable[Page[T]]], what: str
    ) -> None:
        self._fetch = fetch
        self._what = what

    async def pages(self) -> AsyncIterator[Page[T]]:
        """The pages, fetched lazily."""
        token: Optional[str] = None
        seen: Set[str] = set()
        while True:
            page = await self._fetch(token)
            yield page
            if not _check_token(page.next_page_token, seen):
                return
            token = page.next_page_token

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def to_list(self) -> List[T]:
        """Every item."""
        return [item async for item in self]

    async def to_pandas(self) -> "pandas.DataFrame":
        """Every item as a row of a DataFrame (needs pandas)."""
        return _frame(await self.to_list())

    def __repr__(self) -> str:
        return f"<mlm.AsyncPager over {self._what}: use async for, or await .to_list()>"
