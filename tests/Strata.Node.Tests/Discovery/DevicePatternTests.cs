using Strata.Node.Discovery;
using Xunit;

namespace Strata.Node.Tests.Discovery;

public sealed class DevicePatternTests
{
    [Theory]
    [InlineData("/dev/loop*", "/dev/loop0", true)]
    [InlineData("/dev/loop*", "/dev/loop", true)]
    [InlineData("/dev/loop*", "/dev/sda", false)]
    [InlineData("/dev/sda", "/dev/sda", true)]
    [InlineData("/dev/sda", "/dev/sdaa", false)]
    [InlineData("/dev/sd?", "/dev/sdb", true)]
    [InlineData("/dev/sd?", "/dev/sdbb", false)]
    [InlineData("nvme*n1", "nvme10n1", true)]
    [InlineData("nvme*n1", "nvme0n2", false)]
    [InlineData("*a*b*", "xxaxxbxx", true)]
    [InlineData("*a*b", "xxbxxa", false)]
    [InlineData("*", "", true)]
    [InlineData("", "", true)]
    [InlineData("", "a", false)]
    [InlineData("Sda", "sda", false)]
    public void Glob(string pattern, string text, bool matches) =>
        Assert.Equal(matches, DevicePattern.Glob(pattern, text));

    [Fact]
    public void A_pattern_with_a_leading_slash_matches_the_path_any_other_the_name()
    {
        Assert.True(DevicePattern.Matches("/dev/sd*", "sdb", "/dev/sdb"));
        Assert.True(DevicePattern.Matches("sd*", "sdb", "/dev/sdb"));
        Assert.False(DevicePattern.Matches("dev/sd*", "sdb", "/dev/sdb"));
        Assert.False(DevicePattern.Matches("/sdb", "sdb", "/dev/sdb"));
    }
}

public sealed class MountTableTests
{
    [Fact]
    public void Mountinfo_lines_parse_with_any_number_of_optional_fields()
    {
        var entries = MountTable.ParseMountInfo(
        [
            "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard",
            "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:7 - ext3 /dev/root rw,errors=continue",
            @"40 27 8:17 / /mnt/a\040b\134c rw - vfat /dev/sdb1 rw",
            "garbage",
            "1 2 3:4 / /x rw no-separator",
        ]);

        Assert.Equal(
            [
                new MountEntry("254:0", "/", "ext4", "/dev/vda"),
                new MountEntry("98:0", "/mnt2", "ext3", "/dev/root"),
                new MountEntry("8:17", @"/mnt/a b\c", "vfat", "/dev/sdb1"),
            ],
            entries);
    }

    [Fact]
    public void Swaps_skip_the_header_and_take_the_first_field()
    {
        var swaps = MountTable.ParseSwaps(
        [
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority",
            "/dev/sda2                               partition\t8388604\t\t0\t\t-2",
            @"/var/swap\040file                       file\t\t1048572\t\t0\t\t-3",
        ]);

        Assert.Equal(["/dev/sda2", "/var/swap file"], swaps);
    }

    [Theory]
    [InlineData(@"plain", "plain")]
    [InlineData(@"\040", " ")]
    [InlineData(@"a\011b\012c", "a\tb\nc")]
    [InlineData(@"trailing\04", @"trailing\04")]
    [InlineData(@"not\999octal", @"not\999octal")]
    public void Unescape(string field, string expected) => Assert.Equal(expected, MountTable.Unescape(field));
}
