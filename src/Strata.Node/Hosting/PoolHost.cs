using Strata.Control.Nodes;
using Strata.Control.Resources;
using Strata.Pool;
using Resources = Strata.Control.Resources;
using StoragePool = Strata.Pool.StoragePool;

namespace Strata.Node.Hosting;

/// <summary>The pools placed on this node, open while they are assigned: made (sparse files or block devices) the first time, reopened after a restart.</summary>
internal sealed class PoolHost(string dataDirectory, long sparseFileBytes, Action<string> log) : IAsyncDisposable
{
    private readonly Dictionary<string, StoragePool> _open = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _failed = new(StringComparer.Ordinal);

    public StoragePool? Find(string name) => _open.GetValueOrDefault(name);

    /// <summary>Why a pool could not be opened, if it could not.</summary>
    public string? Failure(string name) => _failed.GetValueOrDefault(name);

    public IEnumerable<StoragePool> Open => _open.Values;

    public string DirectoryOf(string pool) => Path.Combine(dataDirectory, "pools", pool);

    public async Task EnsureAsync(Resources.StoragePool assigned)
    {
        string name = assigned.Metadata.Name;
        if (_open.ContainsKey(name))
        {
            return;
        }

        try
        {
            var vdevs = VdevPaths(assigned);
            // A disk with a label (even a damaged one) holds a pool: it is opened, never made over; a sparse pool's files exist once made.
            bool made = assigned.Spec.Type == "disk" ? vdevs.Any(StoragePool.HasLabel) : vdevs.Any(v => File.Exists(v) && StoragePool.HasLabel(v));
            if (!made && assigned.Spec.Type == "sparse")
            {
                // Files without any label are most likely a creation cut short (a crash), which never held data. They
                // are set aside, not deleted: if they were a pool whose labels were destroyed, what is left stays readable.
                foreach (string orphan in vdevs.Where(File.Exists))
                {
                    string aside = $"{orphan}.unlabelled-{DateTime.UtcNow:yyyyMMddHHmmss}";
                    File.Move(orphan, aside);
                    log($"pool {name}: {orphan} has no pool label; moved aside to {aside}");
                }
            }

            if (made)
            {
                // Whose pool this is, read without writing anything: a read-write open would replay and write to it.
                string holder;
                await using (var probe = await StoragePool.OpenAsync(vdevs, readOnly: true).ConfigureAwait(false))
                {
                    holder = probe.Name;
                }

                if (holder != name)
                {
                    throw new PoolException($"{string.Join(", ", vdevs)} hold pool '{holder}', not '{name}'; refusing to use them");
                }
            }

            var pool = made
                ? await StoragePool.OpenAsync(vdevs).ConfigureAwait(false)
                : await CreateAsync(assigned, vdevs).ConfigureAwait(false);
            _open[name] = pool;
            _failed.Remove(name);
            log($"pool {name} open ({pool.Layout}, {pool.CapacityBytes >> 20} MiB)");
        }
        catch (Exception e) when (e is PoolException or IOException or UnauthorizedAccessException)
        {
            if (_failed.GetValueOrDefault(name) != e.Message)
            {
                log($"pool {name}: {e.Message}");
            }

            _failed[name] = e.Message;
        }
    }

    /// <summary>Closes and destroys a pool being deleted (its volumes must be gone): its files, or its devices' labels.</summary>
    public async Task DestroyAsync(Resources.StoragePool assigned)
    {
        string name = assigned.Metadata.Name;
        if (_open.Remove(name, out var pool))
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }

        _failed.Remove(name);
        if (assigned.Spec.Type == "sparse")
        {
            string dir = DirectoryOf(name);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
        else
        {
            foreach (string device in assigned.Spec.Devices)
            {
                await WipeLabelsAsync(device).ConfigureAwait(false);
            }
        }

        log($"pool {name} destroyed");
    }

    public PoolReport Report(Resources.StoragePool assigned)
    {
        string name = assigned.Metadata.Name;
        if (_open.TryGetValue(name, out var pool))
        {
            string phase = pool.Health == PoolHealth.Online ? "Healthy" : "Degraded";
            var faulted = pool.Vdevs.Where(v => v.State != VdevState.Online).Select(v => $"{v.Path}: {v.FaultReason ?? v.State.ToString()}").ToList();
            return new PoolReport(name, phase, pool.CapacityBytes, pool.AllocatedBytes, pool.FreeBytes, pool.Vdevs.Select(v => v.Path).ToList(),
                faulted.Count == 0 ? $"{pool.Layout.ToString().ToLowerInvariant()} pool of {pool.Vdevs.Count} vdev(s), all online" : $"faulted: {string.Join("; ", faulted)}");
        }

        return new PoolReport(name, _failed.ContainsKey(name) ? "Failed" : "Pending", 0, 0, 0, [], _failed.GetValueOrDefault(name) ?? "being made");
    }

    private List<string> VdevPaths(Resources.StoragePool assigned)
    {
        if (assigned.Spec.Type == "disk")
        {
            return [.. assigned.Spec.Devices];
        }

        int count = assigned.Spec.PoolType == "mirrored" ? 2 : 1;
        return Enumerable.Range(0, count).Select(i => Path.Combine(DirectoryOf(assigned.Metadata.Name), $"vdev-{i}.img")).ToList();
    }

    private async Task<StoragePool> CreateAsync(Resources.StoragePool assigned, List<string> vdevs)
    {
        Directory.CreateDirectory(DirectoryOf(assigned.Metadata.Name));
        var options = new PoolCreateOptions
        {
            Name = assigned.Metadata.Name,
            Layout = assigned.Spec.PoolType == "mirrored" ? PoolLayout.Mirrored : PoolLayout.Striped,
            Vdevs = vdevs.Select(v => new VdevSpec(v, assigned.Spec.Type == "sparse" ? sparseFileBytes : null)).ToList(),
        };
        return await StoragePool.CreateAsync(options).ConfigureAwait(false);
    }

    private static async Task WipeLabelsAsync(string device)
    {
        // The labels and superblocks sit at the device's start: zeroing the first MiB makes it a blank disk again.
        using var handle = File.OpenHandle(device, FileMode.Open, FileAccess.Write);
        await RandomAccess.WriteAsync(handle, new byte[1 << 20], 0).ConfigureAwait(false);
        RandomAccess.FlushToDisk(handle);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var pool in _open.Values)
        {
            await pool.DisposeAsync().ConfigureAwait(false);
        }

        _open.Clear();
    }
}
