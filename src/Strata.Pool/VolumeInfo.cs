using Strata.Pool.Space;

namespace Strata.Pool;

/// <summary>A volume or snapshot with its space, as <c>pool status</c> and the control plane show it.</summary>
/// <param name="ReferencedChunks">Chunks its map points at (shared ones included).</param>
/// <param name="UniqueChunks">Chunks nothing else points at: what deleting it would free.</param>
/// <param name="Origin">A snapshot's volume, or the snapshot a clone was made from.</param>
public sealed record VolumeInfo(
    string Name,
    VolumeKind Kind,
    long SizeBytes,
    int BlockSize,
    long ReferencedChunks,
    long UniqueChunks,
    string? Origin,
    DateTimeOffset Created);
