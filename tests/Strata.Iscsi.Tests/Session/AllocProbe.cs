using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Strata.Iscsi.Tests.Session;

internal sealed class AllocProbe : EventListener
{
    public readonly ConcurrentDictionary<string, long> Types = new();

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime")
        {
            EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) == true && e.Payload is { } p)
        {
            int i = e.PayloadNames!.IndexOf("TypeName");
            Types.AddOrUpdate((string)p[i]!, 1, (_, v) => v + 1);
        }
    }
}
