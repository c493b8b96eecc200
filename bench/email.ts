// A realistic marketing email for the UTM benchmark: table layout with inline styles, a preheader, an Outlook
// (VML) button inside a conditional comment, product cards, a footer with social and legal links: about 50 KB
// and about 100 links, some already carrying a utm_* parameter or a template placeholder, some not http(s).

const style = 'font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:22px;color:#333333;';
const button =
  'display:inline-block;padding:12px 28px;background:#d6336c;color:#ffffff;border-radius:4px;text-decoration:none;';

function productCard(index: number): string {
  const slug = `linen-shirt-${index}`;
  // Every fourth link already names its source: tagging keeps it and adds only the missing parameters.
  const query = index % 4 === 0 ? `?variant=${index}&amp;utm_source=newsletter` : `?variant=${index}`;
  return `
            <tr>
              <td class="product" style="padding:16px 24px;border-bottom:1px solid #eeeeee;">
                <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0">
                  <tr>
                    <td width="160" valign="top" style="padding-right:16px;">
                      <a href="https://shop.glow.example/products/${slug}${query}" target="_blank">
                        <img src="https://cdn.glow.example/products/${slug}.jpg" width="160" height="160"
                          alt="Linen shirt in colour ${index}" style="display:block;border:0;border-radius:4px;">
                      </a>
                    </td>
                    <td valign="top" style="${style}">
                      <h3 style="margin:0 0 8px;font-size:18px;">Linen shirt, colour ${index}</h3>
                      <p style="margin:0 0 12px;">Light, breathable and cut for warm days. Washed for softness,
                        made to last, and now ${10 + (index % 5) * 5}% off for the spring sale until Sunday.</p>
                      <a href="https://shop.glow.example/products/${slug}${query}#reviews"
                        style="color:#d6336c;">Read the reviews</a>
                      &nbsp;·&nbsp;
                      <a href="https://shop.glow.example/cart/add?id=${4000 + index}&amp;qty=1" style="${button}">Add to cart</a>
                    </td>
                  </tr>
                </table>
              </td>
            </tr>`;
}

function article(index: number): string {
  return `
            <tr>
              <td style="padding:20px 24px;${style}">
                <h2 style="margin:0 0 10px;font-size:20px;">From the journal: story ${index}</h2>
                <p style="margin:0 0 10px;">Our makers in Porto explain how a shirt goes from flax field to your
                  wardrobe in ${index + 3} careful steps, and why we never rush the retting. Read the
                  <a href="https://journal.glow.example/stories/${index}" style="color:#d6336c;">full story</a>,
                  see the <a href='https://journal.glow.example/stories/${index}/photos?page=1' style="color:#d6336c;">photos</a>
                  or watch <a href=https://video.glow.example/watch/${index}>the film</a>.</p>
              </td>
            </tr>`;
}

export function marketingEmail(): string {
  const products = Array.from({ length: 24 }, (_, index) => productCard(index + 1)).join('');
  const articles = Array.from({ length: 10 }, (_, index) => article(index + 1)).join('');
  const social = ['instagram', 'facebook', 'tiktok', 'linkedin', 'pinterest']
    .map(
      (network) =>
        `<a href="https://www.${network}.example/glowbeauty" style="margin:0 6px;"><img src="https://cdn.glow.example/icons/${network}.png" width="24" height="24" alt="${network}"></a>`,
    )
    .join('\n                ');
  return `<!DOCTYPE html>
<html lang="en" xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Spring sale: linen season is here</title>
    <!--[if mso]><xml><o:OfficeDocumentSettings><o:PixelsPerInch>96</o:PixelsPerInch></o:OfficeDocumentSettings></xml><![endif]-->
    <style>
      body { margin: 0; padding: 0; background: #f4f4f4; }
      .product h3 { color: #111111; }
      @media (max-width: 600px) { .product td { display: block !important; width: 100% !important; } }
    </style>
  </head>
  <body style="margin:0;padding:0;background:#f4f4f4;">
    <div style="display:none;max-height:0;overflow:hidden;">Up to 30% off linen, this week only.</div>
    <table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background:#f4f4f4;">
      <tr>
        <td align="center" style="padding:24px 0;">
          <table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" style="background:#ffffff;">
            <tr>
              <td style="padding:12px 24px;font-size:12px;color:#888888;">
                Trouble reading? <a href="https://glow.example/email/{{ message_id }}/view">View it in your browser</a>
              </td>
            </tr>
            <tr>
              <td align="center" style="padding:24px;">
                <a href="https://glow.example/"><img src="https://cdn.glow.example/logo.png" width="140" alt="Glow"></a>
              </td>
            </tr>
            <tr>
              <td align="center" style="padding:0 24px 24px;${style}">
                <h1 style="margin:0 0 12px;font-size:28px;">Linen season is here</h1>
                <p style="margin:0 0 20px;">Everything linen is up to 30% off until Sunday night.</p>
                <!--[if mso]>
                <v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://shop.glow.example/collections/linen"
                  style="height:44px;v-text-anchor:middle;width:220px;" arcsize="10%" fillcolor="#d6336c" stroke="f">
                  <center style="color:#ffffff;font-family:Arial,sans-serif;font-size:16px;">Shop linen</center>
                </v:roundrect>
                <![endif]-->
                <!--[if !mso]><!-- -->
                <a href="https://shop.glow.example/collections/linen" style="${button}">Shop linen</a>
                <!--<![endif]-->
              </td>
            </tr>${products}${articles}
            <tr>
              <td align="center" style="padding:24px;${style}">
                ${social}
              </td>
            </tr>
            <tr>
              <td align="center" style="padding:16px 24px 32px;font-size:12px;line-height:18px;color:#888888;">
                Glow Beauty Inc., 1 Rue Linen, Montréal QC. Questions? <a href="mailto:hello@glow.example">Write to us</a>
                or call <a href="tel:+15145550100">+1 514 555 0100</a>.<br>
                <a href="https://glow.example/privacy">Privacy</a> ·
                <a href="https://glow.example/terms">Terms</a> ·
                <a href="{{ unsubscribe_url }}">Unsubscribe</a> ·
                <a href="https://glow.example/preferences?email={{ email }}">Preferences</a>
              </td>
            </tr>
          </table>
        </td>
      </tr>
    </table>
  </body>
</html>
`;
}
