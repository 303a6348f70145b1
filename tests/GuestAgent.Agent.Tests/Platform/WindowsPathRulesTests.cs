using GuestAgent.Agent.Platform.Windows;

namespace GuestAgent.Agent.Tests.Platform;

/// <summary>The lexical path rules of Windows guests: pure functions, so they run here too.</summary>
public sealed class WindowsPathRulesTests
{
    [Theory]
    [InlineData(@"C:\data\file.txt", @"C:\data\file.txt")]
    [InlineData(@"c:/data/sub/../file.txt", @"C:\data\file.txt")]
    [InlineData(@"C:\data\.\sub\\file", @"C:\data\sub\file")]
    [InlineData(@"C:\", @"C:\")]
    [InlineData(@"D:\Program Files\app\config.json", @"D:\Program Files\app\config.json")]
    [InlineData(@"C:\data\console.log", @"C:\data\console.log")] // CON only as a whole stem
    [InlineData(@"C:\data\file~name.txt", @"C:\data\file~name.txt")] // a tilde alone is no short name
    public void A_drive_absolute_path_is_accepted_in_its_normal_form(string path, string normalized)
    {
        var verdict = WindowsPathRules.Normalize(path);

        Assert.True(verdict.IsOk, verdict.Refusal);
        Assert.Equal(normalized, verdict.Normalized);
    }

    [Theory]
    [InlineData(@"\\server\share\file", "UNC path")]
    [InlineData(@"//server/share/file", "UNC path")]
    [InlineData(@"\\?\C:\data\file", "device or namespace path")]
    [InlineData(@"\\.\PhysicalDrive0", "device or namespace path")]
    [InlineData(@"\??\C:\data\file", "device or namespace path")]
    [InlineData(@"C:data\file", "relative to the drive's current directory")]
    [InlineData(@"\data\file", "not absolute")]
    [InlineData(@"data\file", "not absolute")]
    [InlineData(@"C:\..\Windows\win.ini", "goes above the root")]
    [InlineData(@"C:\data\file.txt:secret", "alternate data stream")]
    [InlineData(@"C:\data\file.txt::$DATA", "alternate data stream")]
    [InlineData(@"C:\data\CON", "reserved device name (CON)")]
    [InlineData(@"C:\data\nul.txt", "reserved device name (NUL)")]
    [InlineData(@"C:\data\Com1", "reserved device name (COM1)")]
    [InlineData(@"C:\data\LPT9.log", "reserved device name (LPT9)")]
    [InlineData(@"C:\data\AUX .txt", "reserved device name (AUX)")]
    [InlineData(@"C:\data\CONOUT$", "reserved device name (CONOUT$)")]
    [InlineData(@"C:\data\file.txt.", "ends with a dot or a space")]
    [InlineData(@"C:\data\file.txt ", "ends with a dot or a space")]
    [InlineData(@"C:\data\dir...\file", "ends with a dot or a space")]
    [InlineData(@"C:\PROGRA~1\app.exe", "8.3 short name")]
    [InlineData(@"C:\data\SECRET~12.TXT", "8.3 short name")]
    [InlineData(@"C:\data\fi*le", "does not allow")]
    [InlineData("C:\\data\\a\u0001b", "does not allow")]
    [InlineData("", "empty")]
    public void A_spelling_that_could_name_something_else_is_refused_with_the_reason(string path, string reason)
    {
        var verdict = WindowsPathRules.Normalize(path);

        Assert.False(verdict.IsOk, $"accepted as {verdict.Normalized}");
        Assert.Contains(reason, verdict.Refusal);
    }

    [Theory]
    [InlineData(@"C:\data\file", @"C:\data", true)]
    [InlineData(@"C:\DATA\Sub\file", @"c:\data\", true)]
    [InlineData(@"C:\data", @"C:\data", true)]
    [InlineData(@"C:\data2\file", @"C:\data", false)]
    [InlineData(@"D:\data\file", @"C:\data", false)]
    [InlineData(@"C:\dat", @"C:\data", false)]
    public void Inside_a_root_is_by_whole_components_and_without_regard_to_case(string path, string root, bool inside)
    {
        Assert.Equal(inside, WindowsPathRules.IsInside(path, root));
    }

    [Fact]
    public void Dot_dot_that_leaves_a_root_is_normalized_first_so_the_root_check_sees_where_it_leads()
    {
        var verdict = WindowsPathRules.Normalize(@"C:\data\..\Windows\System32\config\SAM");

        Assert.Equal(@"C:\Windows\System32\config\SAM", verdict.Normalized);
        Assert.False(WindowsPathRules.IsInside(verdict.Normalized!, @"C:\data"));
    }
}
