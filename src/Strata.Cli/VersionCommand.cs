using System.CommandLine;
using System.Reflection;
using Strata.Cli.Resources;
using Strata.Control.Api;

namespace Strata.Cli;

internal static class VersionCommand
{
    public static Command Create()
    {
        var command = new Command("version", "Print the version of strata, and of the control plane when one answers at --server.");
        ServerOptions.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var version = typeof(VersionCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            Console.WriteLine($"strata {version}");
            try
            {
                using var client = ServerOptions.Client(parse);
                using var quick = CancellationTokenSource.CreateLinkedTokenSource(ct);
                quick.CancelAfter(TimeSpan.FromSeconds(2));
                var server = await client.VersionAsync(quick.Token);
                Console.WriteLine($"control plane {server["version"]} at {client.Server} (state {server["store"]})");
            }
            catch (Exception e) when (e is ControlClientException or OperationCanceledException)
            {
                // The client's version is what was asked for; no control plane is fine.
            }

            return 0;
        });
        return command;
    }
}
