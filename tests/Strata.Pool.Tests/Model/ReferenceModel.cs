namespace Strata.Pool.Tests.Model;

/// <summary>
/// What a pool should hold, kept the simplest way: each volume's blocks in a dictionary, and its chunks as ids
/// with reference counts (copy-on-write by the book). The property test checks the engine against it.
/// </summary>
internal sealed class ReferenceModel(long capacityChunks, int chunkSize)
{
    private readonly Dictionary<int, int> _refs = [];
    private int _nextChunk = 1;

    public Dictionary<string, ModelVolume> Volumes { get; } = [];

    public long CapacityChunks => capacityChunks;

    public int ChunkSize => chunkSize;

    public long Allocated => _refs.Count;

    public long Free => capacityChunks - _refs.Count;

    public int RefCount(int chunk) => _refs.GetValueOrDefault(chunk);

    public ModelVolume Create(string name, long size, int blockSize)
    {
        var v = new ModelVolume(name, false, null, size, blockSize);
        Volumes.Add(name, v);
        return v;
    }

    /// <summary>Writes block by block in chunk order, as the engine does; false when the pool fills up on the way.</summary>
    public bool Write(ModelVolume v, long lba, byte[] data)
    {
        int blocks = data.Length / v.BlockSize;
        long bs = v.BlockSize;
        long offset = lba * bs;
        long end = offset + data.Length;
        while (offset < end)
        {
            long chunk = offset / chunkSize;
            long segEnd = Math.Min(end, (chunk + 1) * chunkSize);
            if (!TouchChunk(v, chunk))
            {
                return false;
            }

            for (long pos = offset; pos < segEnd; pos += bs)
            {
                v.Blocks[pos / bs] = data.AsSpan((int)(pos - lba * bs), (int)bs).ToArray();
            }

            offset = segEnd;
        }

        _ = blocks;
        return true;
    }

    /// <summary>Unmaps: whole chunks lose their mapping, partial ones are written with zeros (if mapped).</summary>
    public bool Unmap(ModelVolume v, long lba, long blockCount)
    {
        long bs = v.BlockSize;
        long offset = lba * bs;
        long end = offset + blockCount * bs;
        while (offset < end)
        {
            long chunk = offset / chunkSize;
            long segEnd = Math.Min(end, (chunk + 1) * chunkSize);
            if (segEnd - offset == chunkSize)
            {
                if (v.Chunks.Remove(chunk, out int id))
                {
                    Drop(id);
                }
            }
            else if (v.Chunks.ContainsKey(chunk) && !TouchChunk(v, chunk))
            {
                return false;
            }

            for (long pos = offset; pos < segEnd; pos += bs)
            {
                v.Blocks.Remove(pos / bs);
            }

            offset = segEnd;
        }

        return true;
    }

    public ModelVolume Snapshot(ModelVolume v, string name)
    {
        var s = new ModelVolume(name, true, v.Name, v.Size, v.BlockSize);
        Share(v, s);
        Volumes.Add(name, s);
        return s;
    }

    public ModelVolume Clone(ModelVolume s, string name)
    {
        var c = new ModelVolume(name, false, s.Name, s.Size, s.BlockSize);
        Share(s, c);
        Volumes.Add(name, c);
        return c;
    }

    public void Revert(ModelVolume v, ModelVolume s)
    {
        foreach (var id in v.Chunks.Values)
        {
            Drop(id);
        }

        v.Chunks.Clear();
        v.Blocks.Clear();
        Share(s, v);
    }

    public void Delete(ModelVolume v)
    {
        foreach (var id in v.Chunks.Values)
        {
            Drop(id);
        }

        Volumes.Remove(v.Name);
    }

    public long UniqueChunks(ModelVolume v) => v.Chunks.Values.Count(id => _refs[id] == 1);

    private static void CopyBlocks(ModelVolume from, ModelVolume to)
    {
        foreach (var (lba, b) in from.Blocks)
        {
            to.Blocks[lba] = b;
        }
    }

    private void Share(ModelVolume from, ModelVolume to)
    {
        CopyBlocks(from, to);
        foreach (var (c, id) in from.Chunks)
        {
            to.Chunks[c] = id;
            _refs[id]++;
        }
    }

    /// <summary>Makes a chunk writable by <paramref name="v"/> alone: a fresh one if unmapped or shared.</summary>
    private bool TouchChunk(ModelVolume v, long chunk)
    {
        if (v.Chunks.TryGetValue(chunk, out int id) && _refs[id] == 1)
        {
            return true;
        }

        if (Free == 0)
        {
            return false;
        }

        int fresh = _nextChunk++;
        _refs[fresh] = 1;
        v.Chunks[chunk] = fresh;
        if (id != 0)
        {
            Drop(id);
        }

        return true;
    }

    private void Drop(int id)
    {
        if (--_refs[id] == 0)
        {
            _refs.Remove(id);
        }
    }
}

internal sealed class ModelVolume(string name, bool snapshot, string? origin, long size, int blockSize)
{
    public string Name => name;

    public bool IsSnapshot => snapshot;

    public string? Origin => origin;

    public long Size { get; set; } = size;

    public int BlockSize => blockSize;

    public long BlockCount => Size / blockSize;

    public Dictionary<long, byte[]> Blocks { get; } = [];

    public Dictionary<long, int> Chunks { get; } = [];
}
