using Strata.Iscsi.Tests.Fuzz;

namespace Strata.Iscsi.Tests.Session;

/// <summary>
/// A portal stops serving one target (a volume deleted, or moved to another node): that target's sessions end and
/// it can no longer be logged into, while the portal's other targets go on as if nothing happened.
/// </summary>
public sealed class RemoveTargetTests
{
    [Fact]
    public async Task Removing_a_target_closes_its_sessions_refuses_new_logins_and_leaves_the_others_serving()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var removed = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await removed.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName }, cts.Token))!.Header[36]);
        await using var kept = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await kept.LoginAsync(new LoginSettings { TargetName = FuzzTarget.VerifiedName }, cts.Token))!.Header[36]);

        Assert.True(await target.Server.RemoveTargetAsync(FuzzTarget.FuzzedName));
        Assert.False(await target.Server.RemoveTargetAsync(FuzzTarget.FuzzedName));

        // Its session's connection is closed by the time RemoveTargetAsync returns: the initiator reads the end of the stream.
        Assert.Null(await removed.NextAsync(cts.Token));

        // A new login to it is refused (status class 2, initiator error: no such target).
        await using var again = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(2, (await again.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName }, cts.Token))!.Header[36]);

        // The other target's session goes on.
        Assert.NotNull(await kept.CommandAsync(TestInitiator.Read16(0, 1), 512, null, cts.Token));
        Assert.NotNull(await kept.CommandAsync(TestInitiator.Read16(1, 1), 512, null, cts.Token));
    }
}
