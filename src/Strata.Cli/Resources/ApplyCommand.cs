using System.CommandLine;

namespace Strata.Cli.Resources;

/// <summary><c>strata apply -f FILE</c>: creates or updates the resources of YAML or JSON manifests, like kubectl apply.</summary>
internal static class ApplyCommand
{
    public static Command Create()
    {
        var files = FileOption("The manifest to apply (YAML or JSON, several documents allowed; - for stdin). Repeatable.");
        var command = new Command("apply", "Create or update resources from manifests: StoragePoolClaim, StorageClass, PersistentVolumeClaim.") { files };
        ServerOptions.AddTo(command);
        command.SetAction((parse, ct) => ServerOptions.RunAsync(parse, async client =>
        {
            foreach (var (source, text) in ReadAll(parse.GetValue(files)!))
            {
                foreach (string outcome in await client.ApplyAsync(text, source, ct))
                {
                    Console.WriteLine(outcome);
                }
            }

            return 0;
        }));
        return command;
    }

    public static Option<string[]> FileOption(string description) => new("--filename", "-f")
    {
        Description = description,
        Required = true,
        AllowMultipleArgumentsPerToken = true,
    };

    /// <summary>Every file's text, read before anything is sent so a missing file changes nothing.</summary>
    public static List<(string Source, string Text)> ReadAll(string[] paths)
    {
        var result = new List<(string, string)>();
        foreach (string path in paths)
        {
            if (path == "-")
            {
                result.Add(("stdin", Console.In.ReadToEnd()));
                continue;
            }

            if (!File.Exists(path))
            {
                throw new Strata.Control.Api.ControlClientException(0, $"{path}: no such file");
            }

            result.Add((path, File.ReadAllText(path)));
        }

        return result;
    }
}
