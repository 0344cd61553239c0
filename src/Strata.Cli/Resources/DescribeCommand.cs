using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Strata.Control.Api;
using Strata.Control.Resources;
using static Strata.Cli.Resources.ResourceColumns;

namespace Strata.Cli.Resources;

/// <summary><c>strata describe KIND NAME</c>: like kubectl describe; a PV shows the iSCSI source the seed shows, its replicas, conditions and events.</summary>
internal static class DescribeCommand
{
    public static Command Create()
    {
        var kind = new Argument<string>("kind") { Description = $"The kind: {GetCommand.KindsHelp}." };
        var name = new Argument<string>("name") { Description = "The resource's name." };
        var ns = new Option<string?>("--namespace", "-n") { Description = "The namespace of a PersistentVolumeClaim (default: default)." };
        var command = new Command("describe", "Show one resource in detail, with its conditions and events.") { kind, name, ns };
        ServerOptions.AddTo(command);
        command.SetAction((parse, ct) => ServerOptions.RunAsync(parse, async client =>
        {
            var resolved = ResourceKind.Find(parse.GetValue(kind)!)
                ?? throw new ControlClientException(0, $"the server doesn't have a resource type \"{parse.GetValue(kind)}\" (known: {GetCommand.KindsHelp})");
            var item = await client.GetAsync(resolved.Plural, parse.GetValue(name)!, parse.GetValue(ns), ct);
            var events = await client.EventsAsync(resolved.Plural, parse.GetValue(name)!, parse.GetValue(ns), ct);
            JsonNode? replicas = null;
            if (resolved == ResourceKind.Volume)
            {
                replicas = await client.ListAsync(ResourceKind.VolumeReplica.Plural, null, ct);
            }

            Console.Write(Describe(resolved, item, events.AsArray(), replicas));
            return 0;
        }));
        return command;
    }

    internal static string Describe(ResourceKind kind, JsonNode r, JsonArray events, JsonNode? replicaList)
    {
        var o = new StringBuilder();
        void Line(string label, string value) => o.Append(CultureInfo.InvariantCulture, $"{label + ":",-17}{value}\n");
        Line("Name", Text(r, "metadata.name"));
        if (kind.Namespaced)
        {
            Line("Namespace", Text(r, "metadata.namespace", "default"));
        }

        Map(o, "Labels", r["metadata"]?["labels"]);
        Map(o, "Annotations", r["metadata"]?["annotations"]);
        if (kind == ResourceKind.Volume)
        {
            DescribeVolume(o, r, replicaList);
        }
        else
        {
            if (Text(r, "metadata.deletionTimestamp", "") is { Length: > 0 } deleting)
            {
                Line("Deleting since", deleting);
            }

            Tree(o, "Spec", r["spec"] ?? Without(r, "apiVersion", "kind", "metadata", "status"), 0);
            Tree(o, "Status", Without(r["status"], "conditions"), 0);
        }

        Conditions(o, r["status"]?["conditions"]);
        Events(o, events);
        return o.ToString();
    }

    private static void DescribeVolume(StringBuilder o, JsonNode r, JsonNode? replicaList)
    {
        void Line(string label, string value) => o.Append(CultureInfo.InvariantCulture, $"{label + ":",-17}{value}\n");
        void Source(string label, string value) => o.Append(CultureInfo.InvariantCulture, $"    {label,-20}{value}\n");
        Line("Finalizers", "[kubernetes.io/pv-protection]");
        Line("StorageClass", Text(r, "spec.storageClassName"));
        Line("Status", Text(r, "metadata.deletionTimestamp", "") != "" ? "Terminating" : Text(r, "status.phase", "Pending"));
        Line("Claim", $"{Text(r, "spec.claimRef.namespace")}/{Text(r, "spec.claimRef.name")}");
        Line("Reclaim Policy", Text(r, "spec.persistentVolumeReclaimPolicy"));
        Line("Access Modes", string.Join(",", (r["spec"]?["accessModes"]?.AsArray() ?? []).Select(m => (string?)m == "ReadWriteOnce" ? "RWO" : (string?)m)));
        Line("VolumeMode", Text(r, "spec.volumeMode"));
        Line("Capacity", Text(r, "spec.capacity.storage"));
        Line("Node Affinity", "<none>");
        Line("Message", Text(r, "status.message", ""));
        o.Append("Source:\n");
        Source("Type:", "ISCSI (an ISCSI Disk resource that is attached to a kubelet's host machine and then exposed to the pod)");
        Source("TargetPortal:", Text(r, "spec.iscsi.targetPortal", "<none>"));
        Source("IQN:", Text(r, "spec.iscsi.iqn"));
        Source("Lun:", Text(r, "spec.iscsi.lun", "0"));
        Source("ISCSIInterface", "default");
        Source("FSType:", Text(r, "spec.iscsi.fsType", "ext4"));
        Source("ReadOnly:", Text(r, "spec.iscsi.readOnly", "false").ToLowerInvariant());
        Source("Portals:", "[]");
        Source("DiscoveryCHAPAuth:", "false");
        Source("SessionCHAPAuth:", "false");
        Source("SecretRef:", "nil");
        Source("InitiatorName:", "<none>");
        Line("State", Text(r, "status.state", "Pending"));
        Line("Target Node", Text(r, "spec.targetNode"));
        Line("Epoch", Text(r, "status.epoch", "0"));
        var inSync = (r["status"]?["inSync"]?.AsArray() ?? []).Select(n => (string?)n ?? "").ToList();
        Line("In Sync", $"{inSync.Count} of {r["spec"]?["replicas"]?.AsArray().Count ?? 0} (writes need at least {Text(r, "spec.minInSync", "1")})");
        o.Append("Replicas:\n");
        var byName = (replicaList?["items"]?.AsArray() ?? []).Where(i => i is not null).ToDictionary(i => Text(i!, "metadata.name"), i => i!);
        var rows = new List<string[]> { new[] { "NAME", "NODE", "POOL", "STATUS", "USED", "IN SYNC", "DETAIL" } };
        foreach (var placement in r["spec"]?["replicas"]?.AsArray() ?? [])
        {
            string name = Text(placement!, "name");
            var replica = byName.GetValueOrDefault(name);
            rows.Add(
            [
                name, Text(placement!, "node"), Text(placement!, "pool"), replica is null ? "Pending" : Text(replica, "status.phase", "Pending"),
                replica is null ? "0" : Strata.Control.Quantity.FormatHuman(long.Parse(Text(replica, "status.usedBytes", "0"), CultureInfo.InvariantCulture)),
                inSync.Contains(name) ? "yes" : "no",
                replica is null ? "" : SyncDetail(replica["status"]?["sync"]),
            ]);
        }

        Rows(o, rows);
    }

    /// <summary>What the target says of a replica: its rebuild's progress (percent, bytes, rate, time left), or why it is out of the set.</summary>
    private static string SyncDetail(JsonNode? sync)
    {
        if (sync is null)
        {
            return "";
        }

        string role = Text(sync, "role", "");
        if (sync["rebuild"] is { } rb)
        {
            long done = (long?)rb["bytesDone"] ?? 0;
            long total = (long?)rb["bytesTotal"] ?? 0;
            double rate = (double?)rb["bytesPerSecond"] ?? 0;
            double? eta = (double?)rb["etaSeconds"];
            string kind = (bool?)rb["full"] == true ? "full copy" : "catching up";
            double percent = total == 0 ? 100 : 100.0 * done / total;
            string copied = Strata.Control.Quantity.FormatHuman((long?)rb["bytesCopied"] ?? 0);
            string speed = Strata.Control.Quantity.FormatHuman((long)rate);
            string left = eta is { } e ? ", ETA " + TimeSpan.FromSeconds(Math.Ceiling(e)).ToString("g", CultureInfo.InvariantCulture) : "";
            return string.Format(CultureInfo.InvariantCulture, "{0} {1:0.#}% of {2}, {3} copied at {4}/s{5}", kind, percent, Strata.Control.Quantity.FormatHuman(total), copied, speed, left);
        }

        return role switch
        {
            "InSync" when sync["lastRebuild"] is { } last => string.Format(CultureInfo.InvariantCulture, "in sync (last rebuild: {0}, {1} copied in {2:0.#} s)",
                (bool?)last["full"] == true ? "full copy" : "incremental", Strata.Control.Quantity.FormatHuman((long?)last["bytesCopied"] ?? 0), (double?)last["seconds"] ?? 0),
            "InSync" => "in sync",
            "Offline" => $"out of sync: {Text(sync, "reason", Text(sync, "lastError", "unknown"))}",
            _ => role.ToLowerInvariant(),
        };
    }

    private static void Map(StringBuilder o, string label, JsonNode? map)
    {
        var entries = map?.AsObject().Select(kv => $"{kv.Key}={kv.Value}").ToList() ?? [];
        if (entries.Count == 0)
        {
            o.Append(CultureInfo.InvariantCulture, $"{label + ":",-17}<none>\n");
            return;
        }

        for (int i = 0; i < entries.Count; i++)
        {
            string text = entries[i].Replace("\n", "\n" + new string(' ', 17), StringComparison.Ordinal);
            o.Append(CultureInfo.InvariantCulture, $"{(i == 0 ? label + ":" : ""),-17}{text}\n");
        }
    }

    private static JsonNode? Without(JsonNode? node, params string[] keys)
    {
        if (node is not JsonObject obj)
        {
            return node;
        }

        var copy = obj.DeepClone().AsObject();
        foreach (string k in keys)
        {
            copy.Remove(k);
        }

        return copy;
    }

    private static void Tree(StringBuilder o, string label, JsonNode? node, int depth)
    {
        string indent = new(' ', depth * 2);
        switch (node)
        {
            case null:
                return;
            case JsonObject obj when obj.Count == 0:
                return;
            case JsonObject obj:
                o.Append(CultureInfo.InvariantCulture, $"{indent}{char.ToUpperInvariant(label[0])}{label[1..]}:\n");
                foreach (var (key, value) in obj)
                {
                    Tree(o, key, value, depth + 1);
                }

                return;
            case JsonArray arr:
                o.Append(CultureInfo.InvariantCulture, $"{indent}{char.ToUpperInvariant(label[0])}{label[1..]}:{(arr.Count == 0 ? " []" : "")}\n");
                foreach (var item in arr)
                {
                    o.Append(CultureInfo.InvariantCulture, $"{indent}  - {(item is JsonValue ? item.ToString() : item?.ToJsonString())}\n");
                }

                return;
            default:
                o.Append(CultureInfo.InvariantCulture, $"{indent}{(char.ToUpperInvariant(label[0]) + label[1..] + ":"),-20}{node}\n");
                return;
        }
    }

    private static void Conditions(StringBuilder o, JsonNode? conditions)
    {
        o.Append("Conditions:\n");
        var rows = new List<string[]> { new[] { "Type", "Status", "Reason", "Message" } };
        foreach (var c in conditions?.AsArray() ?? [])
        {
            rows.Add([Text(c!, "type"), Text(c!, "status"), Text(c!, "reason", ""), Text(c!, "message", "")]);
        }

        if (rows.Count == 1)
        {
            o.Append("  <none>\n");
            return;
        }

        Rows(o, rows);
    }

    private static void Events(StringBuilder o, JsonArray events)
    {
        if (events.Count == 0)
        {
            o.Append(CultureInfo.InvariantCulture, $"{"Events:",-17}<none>\n");
            return;
        }

        o.Append("Events:\n");
        var rows = new List<string[]> { new[] { "Type", "Reason", "Age", "From", "Message" } };
        foreach (var e in events)
        {
            string age = DateTimeOffset.TryParse(Text(e!, "lastTimestamp", ""), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var last)
                ? AgeOf(DateTimeOffset.UtcNow - last) : "";
            int count = int.Parse(Text(e!, "count", "1"), CultureInfo.InvariantCulture);
            rows.Add([Text(e!, "type"), Text(e!, "reason"), count > 1 ? $"{age} (x{count})" : age, Text(e!, "source"), Text(e!, "message")]);
        }

        Rows(o, rows);
    }

    /// <summary>kubectl describe's sub-tables: two-space indent, columns padded to their widest cell.</summary>
    private static void Rows(StringBuilder o, List<string[]> rows)
    {
        int[] widths = Enumerable.Range(0, rows[0].Length).Select(i => rows.Max(r => r[i].Length)).ToArray();
        foreach (var (row, n) in rows.Select((r, n) => (r, n)))
        {
            o.Append("  ");
            o.Append(string.Join("  ", row.Select((cell, i) => i == row.Length - 1 ? cell : cell.PadRight(widths[i]))));
            o.Append('\n');
            if (n == 0)
            {
                o.Append("  ");
                o.Append(string.Join("  ", widths.Select((w, i) => new string('-', i == widths.Length - 1 ? Math.Max(rows[0][i].Length, 4) : w))));
                o.Append('\n');
            }
        }
    }
}
