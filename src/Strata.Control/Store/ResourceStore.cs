using Strata.Control.Resources;
using Strata.State;

namespace Strata.Control.Store;

/// <summary>Typed resources over <see cref="IStore"/>: every write is a compare-and-swap on the copy's <see cref="ObjectMeta.ResourceVersion"/>.</summary>
public sealed class ResourceStore(IStore store)
{
    public IStore Store { get; } = store;

    public async Task<T?> GetAsync<T>(ResourceKind kind, string? ns, string name, CancellationToken ct = default)
        where T : Resource
    {
        var record = await Store.GetAsync(kind.KeyOf(ns, name), ct).ConfigureAwait(false);
        return record is null ? null : (T)Decode(record, kind);
    }

    public async Task<IReadOnlyList<T>> ListAsync<T>(ResourceKind kind, CancellationToken ct = default)
        where T : Resource
    {
        var list = await Store.ListAsync(kind.KeyPrefix, ct).ConfigureAwait(false);
        return list.Records.Select(r => (T)Decode(r, kind)).ToList();
    }

    /// <summary>Creates the resource; false when one of that name exists.</summary>
    public async Task<bool> CreateAsync(Resource resource, CancellationToken ct = default)
    {
        resource.ApiVersion = string.IsNullOrEmpty(resource.ApiVersion) ? resource.Descriptor.ApiVersion : resource.ApiVersion;
        resource.Kind = resource.Descriptor.Kind;
        resource.Metadata.Uid ??= Guid.NewGuid().ToString();
        resource.Metadata.CreationTimestamp ??= DateTimeOffset.UtcNow;
        long? revision = await Store.PutAsync(resource.Key, ResourceJson.Serialize(resource), Revision.Absent, 0, ct).ConfigureAwait(false);
        if (revision is { } r)
        {
            resource.Metadata.ResourceVersion = r;
        }

        return revision is not null;
    }

    /// <summary>Writes the resource if nobody changed it since it was read; false on a conflict (read it again and retry).</summary>
    public async Task<bool> UpdateAsync(Resource resource, CancellationToken ct = default)
    {
        long? revision = await Store.PutAsync(resource.Key, ResourceJson.Serialize(resource), resource.Metadata.ResourceVersion, 0, ct).ConfigureAwait(false);
        if (revision is { } r)
        {
            resource.Metadata.ResourceVersion = r;
        }

        return revision is not null;
    }

    /// <summary>
    /// Reads, changes and writes the resource until the write wins against concurrent writers. <paramref name="change"/>
    /// returns false to write nothing. Returns the written (or unchanged) copy, or null when the resource does not exist.
    /// </summary>
    public async Task<T?> MutateAsync<T>(ResourceKind kind, string? ns, string name, Func<T, bool> change, CancellationToken ct = default)
        where T : Resource
    {
        while (true)
        {
            var current = await GetAsync<T>(kind, ns, name, ct).ConfigureAwait(false);
            if (current is null || !change(current))
            {
                return current;
            }

            if (await UpdateAsync(current, ct).ConfigureAwait(false))
            {
                return current;
            }
        }
    }

    public Task<bool> DeleteAsync(Resource resource, CancellationToken ct = default) =>
        Store.DeleteAsync(resource.Key, resource.Metadata.ResourceVersion, ct);

    public static Resource Decode(StoreRecord record, ResourceKind kind)
    {
        var resource = ResourceJson.Deserialize(record.Value.Span, kind);
        resource.Metadata.ResourceVersion = record.Revision;
        return resource;
    }
}
