namespace Strata.Replication.Volume;

/// <summary>
/// The grains written since the last flush that completed on every replica: what a replica that fails now may have
/// lost from its volatile cache (SCSI's write-cache model: a completed write is durable only after a later flush), so
/// what it must be given again when it returns, besides what it missed while away.
/// </summary>
/// <remarks>
/// Grains are marked when a write completes, in the current generation. A flush seals the current generation when it
/// starts; when it has completed on every replica, the generations it sealed are durable everywhere and are dropped.
/// Marking and sealing share a lock, so a write that completes after a flush started is never dropped by that flush.
/// </remarks>
internal sealed class UnflushedWrites(long grains)
{
    private readonly Lock _gate = new();
    private readonly List<(long Id, SparseBitmap Map)> _sealed = [];
    private SparseBitmap _current = new(grains);
    private long _generation;
    private bool _currentTouched;

    public void Mark(long firstGrain, long grainCount)
    {
        lock (_gate)
        {
            _current.Set(firstGrain, grainCount);
            _currentTouched = true;
        }
    }

    /// <summary>Seals the current generation for a flush starting now; give the id to <see cref="Flushed"/>.</summary>
    public long Seal()
    {
        lock (_gate)
        {
            if (_currentTouched)
            {
                _sealed.Add((_generation, _current));
                _current = new SparseBitmap(grains);
                _currentTouched = false;
            }

            return _generation++;
        }
    }

    /// <summary>A flush that sealed <paramref name="sealedId"/> completed on every replica: what it sealed is durable.</summary>
    public void Flushed(long sealedId)
    {
        lock (_gate)
        {
            _sealed.RemoveAll(s => s.Id <= sealedId);
        }
    }

    /// <summary>Adds every grain not yet known durable everywhere to <paramref name="target"/>.</summary>
    public void CopyTo(SparseBitmap target)
    {
        lock (_gate)
        {
            target.Union(_current);
            foreach (var (_, map) in _sealed)
            {
                target.Union(map);
            }
        }
    }

    /// <summary>Whether anything was written since the last flush started.</summary>
    public bool HasUnsealed
    {
        get
        {
            lock (_gate)
            {
                return _currentTouched;
            }
        }
    }
}
