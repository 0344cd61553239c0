namespace Strata.Pool.Space;

/// <summary>
/// One volume's or snapshot's mapping from logical chunk to physical chunk, in pages of 1024 entries
/// allocated on first use (4 bytes per entry). A snapshot shares its origin's pages; the first change to a
/// shared page copies it (copy-on-write of the map itself), so taking a snapshot costs a pointer per page.
/// </summary>
/// <remarks>
/// Changes happen under the pool's metadata lock; <see cref="TryGet"/> runs on I/O threads without it. A page is
/// filled before it is published, and entries are single 32-bit stores, so a reader sees either value.
/// </remarks>
internal sealed class ChunkMap
{
    private const int PageShift = 10;
    private const int PageSize = 1 << PageShift;
    private const int PageMask = PageSize - 1;

    private Page?[] _pages;

    public ChunkMap(long logicalChunks)
    {
        LogicalChunks = logicalChunks;
        _pages = new Page?[PageCount(logicalChunks)];
    }

    private ChunkMap(long logicalChunks, Page?[] pages, long count)
    {
        LogicalChunks = logicalChunks;
        _pages = pages;
        Count = count;
    }

    public long LogicalChunks { get; private set; }

    /// <summary>Mapped entries.</summary>
    public long Count { get; private set; }

    /// <summary>Pages held (shared ones included): the map's memory is about 4 KiB per page.</summary>
    public int PagesInUse => _pages.Count(p => p is not null);

    public bool TryGet(uint logical, out uint physical)
    {
        var pages = Volatile.Read(ref _pages);
        int pi = (int)(logical >> PageShift);
        var page = pi < pages.Length ? Volatile.Read(ref pages[pi]) : null;
        uint e = page is null ? 0 : Volatile.Read(ref page.Entries[logical & PageMask]);
        physical = e - 1;
        return e != 0;
    }

    /// <summary>Maps <paramref name="logical"/>; returns the physical chunk it mapped before, or null.</summary>
    public uint? Set(uint logical, uint physical)
    {
        var page = WritablePage(logical, create: true)!;
        ref uint slot = ref page.Entries[logical & PageMask];
        uint old = slot;
        Volatile.Write(ref slot, physical + 1);
        if (old == 0)
        {
            page.Mapped++;
            Count++;
            return null;
        }

        return old - 1;
    }

    /// <summary>Unmaps <paramref name="logical"/>; returns the physical chunk it mapped, or null.</summary>
    public uint? Clear(uint logical)
    {
        if (!TryGet(logical, out _))
        {
            return null;
        }

        var page = WritablePage(logical, create: false)!;
        ref uint slot = ref page.Entries[logical & PageMask];
        uint old = slot;
        Volatile.Write(ref slot, 0);
        page.Mapped--;
        Count--;
        if (page.Mapped == 0)
        {
            page.Sharers--;
            Volatile.Write(ref _pages[logical >> PageShift], null);
        }

        return old - 1;
    }

    /// <summary>A map with the same entries, sharing every page until one side changes it.</summary>
    public ChunkMap Share()
    {
        var pages = (Page?[])_pages.Clone();
        foreach (var p in pages)
        {
            if (p is not null)
            {
                p.Sharers++;
            }
        }

        return new ChunkMap(LogicalChunks, pages, Count);
    }

    /// <summary>
    /// Shares every page that holds the same entries as <paramref name="origin"/>'s: a snapshot or clone read from
    /// a checkpoint takes no more memory than it did live.
    /// </summary>
    public void ShareIdenticalPagesWith(ChunkMap origin)
    {
        int n = Math.Min(_pages.Length, origin._pages.Length);
        for (int pi = 0; pi < n; pi++)
        {
            var mine = _pages[pi];
            var theirs = origin._pages[pi];
            if (mine is null || theirs is null || mine == theirs || mine.Mapped != theirs.Mapped || !mine.Entries.AsSpan().SequenceEqual(theirs.Entries))
            {
                continue;
            }

            mine.Sharers--;
            theirs.Sharers++;
            _pages[pi] = theirs;
        }
    }

    /// <summary>Lets go of every page (the map is being deleted or replaced).</summary>
    public void Release()
    {
        foreach (var p in _pages)
        {
            if (p is not null)
            {
                p.Sharers--;
            }
        }

        _pages = [];
        Count = 0;
    }

    public void Grow(long logicalChunks)
    {
        if (logicalChunks <= LogicalChunks)
        {
            return;
        }

        var pages = _pages;
        Array.Resize(ref pages, PageCount(logicalChunks));
        Volatile.Write(ref _pages, pages);
        LogicalChunks = logicalChunks;
    }

    /// <summary>The entry arrays of the pages in use (an entry is physical + 1, 0 when unmapped): for tight loops.</summary>
    public IEnumerable<uint[]> PageEntries()
    {
        foreach (var page in _pages)
        {
            if (page is not null)
            {
                yield return page.Entries;
            }
        }
    }

    /// <summary>Every mapped entry in logical order.</summary>
    public IEnumerable<(uint Logical, uint Physical)> Entries()
    {
        var pages = _pages;
        for (int pi = 0; pi < pages.Length; pi++)
        {
            var page = pages[pi];
            if (page is null)
            {
                continue;
            }

            for (int i = 0; i < PageSize; i++)
            {
                uint e = page.Entries[i];
                if (e != 0)
                {
                    yield return ((uint)((pi << PageShift) | i), e - 1);
                }
            }
        }
    }

    private static int PageCount(long logicalChunks) => (int)((logicalChunks + PageSize - 1) >> PageShift);

    private Page? WritablePage(uint logical, bool create)
    {
        int pi = (int)(logical >> PageShift);
        var page = _pages[pi];
        if (page is null)
        {
            if (!create)
            {
                return null;
            }

            page = new Page();
            Volatile.Write(ref _pages[pi], page);
            return page;
        }

        if (page.Sharers > 1)
        {
            var copy = new Page();
            page.Entries.AsSpan().CopyTo(copy.Entries);
            copy.Mapped = page.Mapped;
            page.Sharers--;
            Volatile.Write(ref _pages[pi], copy);
            return copy;
        }

        return page;
    }

    private sealed class Page
    {
        public readonly uint[] Entries = new uint[PageSize];
        public int Sharers = 1;
        public int Mapped;
    }
}
