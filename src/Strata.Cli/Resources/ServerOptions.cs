using System.CommandLine;
using Strata.Control.Api;

namespace Strata.Cli.Resources;

/// <summary>--server and --token, shared by every command that talks to the control plane.</summary>
internal static class ServerOptions
{
    public const string DefaultServer = "http://127.0.0.1:5656";

    public static Option<string> Server() => new("--server", "-s")
    {
        Description = "The control plane's API (default $STRATA_SERVER, else http://127.0.0.1:5656).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("STRATA_SERVER") ?? DefaultServer,
    };

    public static Option<string?> Token() => new("--token")
    {
        Description = "Bearer token for an API bound beyond loopback (default $STRATA_TOKEN).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("STRATA_TOKEN"),
    };

    public static void AddTo(Command command)
    {
        command.Options.Add(Server());
        command.Options.Add(Token());
    }

    public static ControlClient Client(ParseResult parse)
    {
        string server = parse.GetValue<string>("--server")!;
        if (!Uri.TryCreate(server.Contains("://", StringComparison.Ordinal) ? server : $"http://{server}", UriKind.Absolute, out var uri))
        {
            throw new ControlClientException(0, $"--server: '{server}' is not an address such as http://127.0.0.1:5656");
        }

        return new ControlClient(uri, parse.GetValue<string?>("--token"));
    }

    /// <summary>Runs a client command: a failure is one line on stderr and exit code 1.</summary>
    public static async Task<int> RunAsync(ParseResult parse, Func<ControlClient, Task<int>> body)
    {
        try
        {
            using var client = Client(parse);
            return await body(client);
        }
        catch (ControlClientException e)
        {
            Console.Error.WriteLine($"strata: {e.Message}");
            return 1;
        }
    }
}
