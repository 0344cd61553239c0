using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;
using Strata.Control;
using Strata.Control.Api;
using Strata.Control.Resources;

namespace Strata.Cli.Resources;

/// <summary><c>strata get KIND [NAME]</c>: tables like kubectl get, or the resources as YAML or JSON; -w follows changes.</summary>
internal static class GetCommand
{
    public static string KindsHelp => string.Join("; ", ResourceKind.All.Select(k => $"{k.Plural} ({string.Join(", ", k.ShortNames.Where(s => s.Length <= 4 || s == "nodes"))})"));

    public static Command Create()
    {
        var kind = new Argument<string>("kind") { Description = $"What to list: {KindsHelp}." };
        var name = new Argument<string?>("name") { Description = "One resource by name.", Arity = ArgumentArity.ZeroOrOne };
        var output = new Option<string?>("--output", "-o") { Description = "wide (more columns), yaml or json." };
        output.AcceptOnlyFromAmong("wide", "yaml", "json");
        var watch = new Option<bool>("--watch", "-w") { Description = "After listing, print each change as it happens (until Ctrl-C)." };
        var ns = new Option<string?>("--namespace", "-n") { Description = "Only claims in this namespace (default: all)." };
        var command = new Command("get", "List resources, or show one.") { kind, name, output, watch, ns };
        ServerOptions.AddTo(command);
        command.SetAction((parse, ct) => ServerOptions.RunAsync(parse, async client =>
        {
            var resolved = ResourceKind.Find(parse.GetValue(kind)!)
                ?? throw new ControlClientException(0, $"the server doesn't have a resource type \"{parse.GetValue(kind)}\" (known: {KindsHelp})");
            string? format = parse.GetValue(output);
            string? one = parse.GetValue(name);
            List<JsonNode> items;
            long revision;
            if (one is not null)
            {
                var item = await client.GetAsync(resolved.Plural, one, parse.GetValue(ns), ct);
                items = [item];
                revision = long.Parse(ResourceColumns.Text(item, "metadata.resourceVersion", "0"), System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                var list = await client.ListAsync(resolved.Plural, parse.GetValue(ns), ct);
                items = list["items"]!.AsArray().Select(i => i!).ToList();
                revision = list["revision"]!.GetValue<long>();
            }

            if (format is "yaml" or "json")
            {
                Console.Write(Render(items, format, one is null));
            }
            else if (items.Count == 0 && !parse.GetValue(watch))
            {
                Console.Error.WriteLine(parse.GetValue(ns) is { } n ? $"No resources found in {n} namespace." : "No resources found");
            }
            else
            {
                PrintTable(resolved, items, format == "wide", headers: true);
            }

            if (parse.GetValue(watch))
            {
                try
                {
                    await foreach (var change in client.WatchAsync(resolved.Plural, revision, ct))
                    {
                        if (change["object"] is not { } obj || (one is not null && ResourceColumns.Text(obj, "metadata.name") != one))
                        {
                            continue;
                        }

                        if ((string?)change["type"] == "DELETED")
                        {
                            Console.WriteLine($"{obj["key"]?.GetValue<string>()?.Split('/')[^1]} deleted");
                        }
                        else if (format is "yaml" or "json")
                        {
                            Console.Write(Render([obj], format, list: false));
                        }
                        else
                        {
                            PrintTable(resolved, [obj], format == "wide", headers: false);
                        }
                    }
                }
                catch (OperationCanceledException)
                {
                }
            }

            return 0;
        }));
        return command;
    }

    private static string Render(List<JsonNode> items, string format, bool list)
    {
        if (format == "json")
        {
            var node = list ? new JsonObject { ["apiVersion"] = "v1", ["kind"] = "List", ["items"] = new JsonArray(items.Select(i => i.DeepClone()).ToArray()) } : items[0];
            return node.ToJsonString(ResourceJson.IndentedOptions) + "\n";
        }

        return string.Join("---\n", items.Select(ResourceJson.ToYaml));
    }

    public static void PrintTable(ResourceKind kind, IEnumerable<JsonNode> items, bool wide, bool headers)
    {
        var columns = ResourceColumns.For(kind).Where(c => wide || !c.WideOnly).ToList();
        var table = new Table().Border(TableBorder.None);
        foreach (var c in columns)
        {
            table.AddColumn(new TableColumn(c.Header).PadLeft(0).PadRight(c == columns[^1] ? 0 : 3));
        }

        if (!headers)
        {
            table.HideHeaders();
        }

        foreach (var item in items)
        {
            table.AddRow(columns.Select(c => Markup.Escape(c.Value(item))).ToArray());
        }

        AnsiConsole.Write(table);
    }
}
