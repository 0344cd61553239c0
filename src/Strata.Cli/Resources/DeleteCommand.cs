using System.CommandLine;
using Strata.Control.Api;
using Strata.Control.Manifests;
using Strata.Control.Resources;

namespace Strata.Cli.Resources;

/// <summary><c>strata delete KIND NAME</c> or <c>strata delete -f FILE</c>.</summary>
internal static class DeleteCommand
{
    public static Command Create()
    {
        var kind = new Argument<string?>("kind") { Description = "The kind: spc, sc, pvc, pv, ... (see strata get --help).", Arity = ArgumentArity.ZeroOrOne };
        var names = new Argument<string[]>("name") { Description = "What to delete.", Arity = ArgumentArity.ZeroOrMore };
        var files = ApplyCommand.FileOption("Delete the resources of this manifest instead.");
        files.Required = false;
        var ns = new Option<string?>("--namespace", "-n") { Description = "The namespace of a PersistentVolumeClaim (default: default)." };
        var command = new Command("delete", "Delete resources. A StoragePoolClaim whose pools hold volumes is refused; a claim's volume goes with it (reclaim policy Delete). " +
            "A node gone for good (NotReady, no volume naming a replica on it) is forgotten with its pools and replica records; its disks keep their data.") { kind, names, files, ns };
        ServerOptions.AddTo(command);
        command.SetAction((parse, ct) => ServerOptions.RunAsync(parse, async client =>
        {
            var targets = new List<(string Kind, string Name, string? Namespace)>();
            if (parse.GetValue(files) is { Length: > 0 } paths)
            {
                foreach (var (source, text) in ApplyCommand.ReadAll(paths))
                {
                    try
                    {
                        targets.AddRange(ManifestParser.Parse(text, source).Select(r => (r.Descriptor.Plural, r.Metadata.Name, r.Metadata.Namespace)));
                    }
                    catch (ManifestException e)
                    {
                        throw new ControlClientException(0, e.Message);
                    }
                }
            }
            else if (parse.GetValue(kind) is { } k && parse.GetValue(names) is { Length: > 0 } n)
            {
                var resolved = ResourceKind.Find(k) ?? throw new ControlClientException(0, $"unknown kind '{k}' (see strata get --help)");
                targets.AddRange(n.Select(name => (resolved.Plural, name, parse.GetValue(ns))));
            }
            else
            {
                throw new ControlClientException(0, "give a kind and a name (strata delete pvc mongo-pvc) or -f FILE");
            }

            foreach (var (plural, name, space) in targets)
            {
                Console.WriteLine(await client.DeleteAsync(plural, name, space, ct));
            }

            return 0;
        }));
        return command;
    }
}
