namespace GuestAgent.Client;

/// <summary>Text from a message that may be forged, made safe to put into an error message shown on a terminal.</summary>
internal static class Untrusted
{
    public static string Printable(string? text, int max = 300)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }
        var cut = text.Length > max ? text[..max] + "…" : text;
        // Control characters (escape sequences, newlines) could rewrite what the operator sees.
        return string.Create(cut.Length, cut, (span, s) =>
        {
            for (var i = 0; i < s.Length; i++)
            {
                span[i] = char.IsControl(s[i]) ? '?' : s[i];
            }
        });
    }
}
