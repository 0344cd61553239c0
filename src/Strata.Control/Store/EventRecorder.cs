using System.Text.Json;
using Strata.Control.Resources;
using Strata.State;

namespace Strata.Control.Store;

/// <summary>Events kept per resource under /strata/events/&lt;plural&gt;/&lt;name&gt;/; a repeat of the last event bumps its count.</summary>
public sealed class EventRecorder(IStore store, string source)
{
    private const int KeptPerResource = 30;

    public static string PrefixOf(Resource resource) => $"/strata/events/{resource.Descriptor.Plural}/{resource.QualifiedName}/";

    public async Task RecordAsync(Resource about, string type, string reason, string message, CancellationToken ct = default)
    {
        string prefix = PrefixOf(about);
        var now = DateTimeOffset.UtcNow;
        for (int attempt = 0; attempt < 5; attempt++)
        {
            var list = await store.ListAsync(prefix, ct).ConfigureAwait(false);
            var last = list.Records.Count > 0 ? list.Records[^1] : null;
            if (last is not null && JsonSerializer.Deserialize<ResourceEvent>(last.Value.Span, ResourceJson.Options) is { } e
                && e.Reason == reason && e.Message == message && e.Type == type)
            {
                e.Count++;
                e.LastTimestamp = now;
                if (await store.PutAsync(last.Key, JsonSerializer.SerializeToUtf8Bytes(e, ResourceJson.Options), last.Revision, 0, ct).ConfigureAwait(false) is not null)
                {
                    return;
                }

                continue;
            }

            var fresh = new ResourceEvent { Type = type, Reason = reason, Message = message, Source = source, FirstTimestamp = now, LastTimestamp = now };
            // Keys sort by time: the newest is last in a list.
            string key = $"{prefix}{now.UtcTicks:D20}-{Guid.NewGuid():N}"[..(prefix.Length + 29)];
            if (await store.PutAsync(key, JsonSerializer.SerializeToUtf8Bytes(fresh, ResourceJson.Options), Revision.Absent, 0, ct).ConfigureAwait(false) is null)
            {
                continue;
            }

            foreach (var old in list.Records.Take(Math.Max(0, list.Records.Count + 1 - KeptPerResource)))
            {
                await store.DeleteAsync(old.Key, Revision.Any, ct).ConfigureAwait(false);
            }

            return;
        }
    }

    public async Task<IReadOnlyList<ResourceEvent>> ListAsync(Resource about, CancellationToken ct = default)
    {
        var list = await store.ListAsync(PrefixOf(about), ct).ConfigureAwait(false);
        return list.Records.Select(r => JsonSerializer.Deserialize<ResourceEvent>(r.Value.Span, ResourceJson.Options)!).ToList();
    }

    public async Task DeleteAllAsync(Resource about, CancellationToken ct = default)
    {
        var list = await store.ListAsync(PrefixOf(about), ct).ConfigureAwait(false);
        foreach (var r in list.Records)
        {
            await store.DeleteAsync(r.Key, Revision.Any, ct).ConfigureAwait(false);
        }
    }
}
