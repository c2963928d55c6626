//! The citizen's pages, server-rendered HTML in Italian and English with no script: the payment
//! page (one due, or a cart of several), the result page after pagoPA Checkout, and error pages.
//!
//! Accessibility (WCAG 2.1 AA): the page's language is declared; a skip link leads to the main
//! content; every form control has a label; tables have a caption and header cells; text and
//! controls keep at least 4.5:1 contrast (body #1a1a1a on white, buttons white on #0b4f9c, 7.6:1);
//! focus is always visible; everything works by keyboard; the waiting page refreshes itself
//! slowly (every 10 s) and also offers a link to check now. Every value is HTML-escaped.

use std::fmt::Write as _;

use crate::domain::cart::Locale;
use crate::domain::{Amount, PaymentStatus, Timestamp};

/// One due as the citizen sees it.
#[derive(Debug, Clone)]
pub struct Due {
    /// What it is for.
    pub reason: String,
    /// How much.
    pub amount: Option<Amount>,
    /// Due date.
    pub expire_at: Option<Timestamp>,
    /// The 18-digit notice code.
    pub notice_code: Option<String>,
    /// The creditor's name.
    pub creditor: String,
    /// The creditor's fiscal code.
    pub creditor_code: String,
    /// Its status.
    pub status: PaymentStatus,
    /// Where the printable notice is.
    pub notice_url: Option<String>,
    /// Where the receipt is, once paid.
    pub receipt_url: Option<String>,
    /// Its page token, when it can be paid now (it goes in the form).
    pub token: Option<String>,
}

/// How a return from Checkout ended, as the result page tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Every due is paid.
    Paid,
    /// The outcome is still being verified.
    Verifying,
    /// The citizen cancelled.
    Cancelled,
    /// Checkout reported an error.
    Failed,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One word of the pages, in both languages.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Word {
    it: String,
    en: String,
}

/// The words of the pages, by key, from `words.toml` (a file translators can edit).
fn words() -> &'static std::collections::BTreeMap<String, Word> {
    static WORDS: std::sync::OnceLock<std::collections::BTreeMap<String, Word>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        toml::from_str(include_str!("words.toml")).unwrap_or_else(|error| {
            tracing::error!(%error, "the pages' words do not parse; the pages show their keys");
            std::collections::BTreeMap::new()
        })
    })
}

/// The word `key` in `locale`.
fn t(locale: Locale, key: &str) -> &'static str {
    words().get(key).map_or("", |w| if locale == Locale::It { w.it.as_str() } else { w.en.as_str() })
}

/// A status in the citizen's words (its wire name is its key in `words.toml`).
fn status_text(locale: Locale, status: PaymentStatus) -> &'static str {
    match status {
        // Not used by cassa; shown as what they would mean to a citizen.
        PaymentStatus::PaymentConfirmed | PaymentStatus::NotificationPending => {
            t(locale, PaymentStatus::PaymentStarted.as_str())
        }
        other => t(locale, other.as_str()),
    }
}

/// `16,00 €` in Italian, `€16.00` in English.
pub fn money(locale: Locale, cents: u64) -> String {
    let (euros, rest) = (cents / 100, cents % 100);
    let mut grouped = String::new();
    let digits = euros.to_string();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(if locale == Locale::It { '.' } else { ',' });
        }
        grouped.push(d);
    }
    match locale {
        Locale::It => format!("{grouped},{rest:02}\u{a0}€"),
        Locale::En => format!("€{grouped}.{rest:02}"),
    }
}

/// The date in Rome: `31/12/2026` in Italian, `31 Dec 2026` in English.
pub fn date(locale: Locale, at: Timestamp) -> String {
    let epoch = at.0.timestamp();
    let local = at.0 + chrono::Duration::seconds(cassa_sdk::time::rome_offset(epoch));
    match locale {
        Locale::It => local.format("%d/%m/%Y").to_string(),
        Locale::En => local.format("%-d %b %Y").to_string(),
    }
}

/// `3010 0000 0000 1234 68`: the notice code in groups of four, as pagoPA notices print it.
fn grouped_code(code: &str) -> String {
    if code.len() != 18 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return escape(code);
    }
    let groups: Vec<&str> = (0..18).step_by(4).map(|i| &code[i..(i + 4).min(18)]).collect();
    groups.join(" ")
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Titillium Web',sans-serif;color:#1a1a1a;background:#fff;margin:0;line-height:1.5}\
header{background:#0b4f9c;color:#fff;padding:.75rem 1rem}header a{color:#fff}\
header p{margin:0;font-weight:600}main{max-width:56rem;margin:0 auto;padding:1rem}\
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:1rem;background:#fff;color:#0b4f9c;padding:.5rem}\
a{color:#0b4f9c}a:focus,button:focus,input:focus{outline:3px solid #e5a000;outline-offset:2px}\
table{border-collapse:collapse;width:100%;margin:1rem 0}caption{text-align:left;font-weight:600}\
th,td{border-bottom:1px solid #767676;padding:.5rem;text-align:left;vertical-align:top}\
th[scope=row]{font-weight:600}.num{text-align:right;white-space:nowrap}.code{white-space:nowrap;font-variant-numeric:tabular-nums}\
label{display:block;font-weight:600;margin-top:1rem}input[type=email]{font-size:1rem;padding:.5rem;width:min(100%,24rem);border:1px solid #595959}\
.hint{color:#404040;margin:.25rem 0}button,.button{display:inline-block;font-size:1rem;font-weight:600;background:#0b4f9c;color:#fff;border:0;border-radius:4px;padding:.75rem 1.25rem;margin-top:1rem;cursor:pointer;text-decoration:none}\
.lang{float:right}.lang a{margin-left:.5rem}.status-ok{color:#0b6b2f;font-weight:600}.status-ko{color:#a3001b;font-weight:600}";

/// The page around `body`.
fn layout(locale: Locale, title: &str, lang_links: &[(Locale, String)], refresh: Option<u32>, body: &str) -> String {
    let mut head = String::new();
    if let Some(seconds) = refresh {
        let _ = write!(head, "<meta http-equiv=\"refresh\" content=\"{seconds}\">");
    }
    let mut langs = String::new();
    if !lang_links.is_empty() {
        let _ = write!(langs, "<nav class=\"lang\" aria-label=\"{}\">", t(locale, "language"));
        for (other, url) in lang_links {
            let name = match other {
                Locale::It => "Italiano",
                Locale::En => "English",
            };
            let _ = write!(
                langs,
                "<a href=\"{}\" lang=\"{}\" hreflang=\"{}\">{name}</a>",
                escape(url),
                other.as_str(),
                other.as_str()
            );
        }
        langs.push_str("</nav>");
    }
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{head}\
         <title>{title} – {site}</title><style>{STYLE}</style></head><body>\
         <a class=\"skip\" href=\"#main\">{skip}</a>\
         <header>{langs}<p>{site}</p></header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{title}</h1>{body}</main></body></html>",
        lang = locale.as_str(),
        title = escape(title),
        site = t(locale, "site"),
        skip = t(locale, "skip"),
    )
}

/// The table of dues.
fn dues_table(locale: Locale, dues: &[Due]) -> String {
    let mut html = format!(
        "<table><caption>{}</caption><thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"num\">{}</th>\
         <th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th>\
         <th scope=\"col\">{}</th></tr></thead><tbody>",
        t(locale, "caption"),
        t(locale, "reason"),
        t(locale, "amount"),
        t(locale, "due"),
        t(locale, "notice_code"),
        t(locale, "creditor"),
        t(locale, "status"),
        t(locale, "documents"),
    );
    for due in dues {
        let status_class = match due.status {
            PaymentStatus::Complete => " class=\"status-ok\"",
            PaymentStatus::PaymentFailed | PaymentStatus::Expired | PaymentStatus::Canceled => " class=\"status-ko\"",
            _ => "",
        };
        let mut documents = Vec::new();
        if let Some(url) = &due.notice_url {
            documents.push(format!("<a href=\"{}\">{}</a>", escape(url), t(locale, "download_notice")));
        }
        if let Some(url) = &due.receipt_url {
            documents.push(format!("<a href=\"{}\">{}</a>", escape(url), t(locale, "download_receipt")));
        }
        let _ = write!(
            html,
            "<tr><th scope=\"row\">{}</th><td class=\"num\">{}</td><td>{}</td><td class=\"code\">{}</td><td>{}<br><small>{}</small></td>\
             <td{status_class}>{}</td><td>{}</td></tr>",
            escape(&due.reason),
            due.amount.map_or_else(|| "–".into(), |a| money(locale, a.0)),
            due.expire_at.map_or_else(|| "–".into(), |at| date(locale, at)),
            due.notice_code.as_deref().map_or_else(|| "–".into(), grouped_code),
            escape(&due.creditor),
            escape(&due.creditor_code),
            status_text(locale, due.status),
            documents.join("<br>"),
        );
    }
    html.push_str("</tbody></table>");
    html
}

/// The payment page for one due, or the cart page for several: the dues, their total and the
/// form that sends the payable ones to `/checkout`.
pub fn payment_page(
    locale: Locale,
    dues: &[Due],
    lang_links: &[(Locale, String)],
    email: Option<&str>,
    can_pay_online: bool,
) -> String {
    let many = dues.len() > 1;
    let mut body = format!("<p>{}</p>", t(locale, if many { "intro_many" } else { "intro_one" }));
    body.push_str(&dues_table(locale, dues));
    let payable: Vec<&Due> = dues.iter().filter(|d| d.token.is_some()).collect();
    if payable.is_empty() || !can_pay_online {
        let _ = write!(body, "<p>{}</p>", t(locale, if payable.is_empty() { "nothing" } else { "offline" }));
        return layout(locale, t(locale, if many { "title_many" } else { "title_one" }), lang_links, None, &body);
    }
    let total: u64 = payable.iter().filter_map(|d| d.amount.map(|a| a.0)).sum();
    let _ = write!(body, "<p><strong>{}: {}</strong></p>", t(locale, "total"), money(locale, total));
    body.push_str("<form method=\"post\" action=\"/checkout\">");
    for due in &payable {
        if let Some(token) = &due.token {
            let _ = write!(body, "<input type=\"hidden\" name=\"payment\" value=\"{}\">", escape(token));
        }
    }
    let _ = write!(
        body,
        "<input type=\"hidden\" name=\"lang\" value=\"{}\">\
         <label for=\"email_notice\">{}</label><p class=\"hint\" id=\"email_hint\">{}</p>\
         <input type=\"email\" id=\"email_notice\" name=\"email_notice\" autocomplete=\"email\" aria-describedby=\"email_hint\" value=\"{}\">\
         <p class=\"hint\" id=\"pay_hint\">{}</p><button type=\"submit\" aria-describedby=\"pay_hint\">{}</button></form>\
         <p>{}</p>",
        locale.as_str(),
        t(locale, "email"),
        t(locale, "email_hint"),
        escape(email.unwrap_or_default()),
        t(locale, "pay_hint"),
        t(locale, "pay"),
        t(locale, "offline"),
    );
    layout(locale, t(locale, if many { "title_many" } else { "title_one" }), lang_links, None, &body)
}

/// The page the citizen lands on after Checkout.
pub fn result_page(
    locale: Locale,
    ending: Ending,
    dues: &[Due],
    lang_links: &[(Locale, String)],
    retry_url: Option<&str>,
    check_url: &str,
) -> String {
    let (title, text) = match ending {
        Ending::Paid => ("result_paid", "result_paid_text"),
        Ending::Verifying => ("result_verifying", "result_verifying_text"),
        Ending::Cancelled => ("result_cancelled", "result_cancelled_text"),
        Ending::Failed => ("result_failed", "result_failed_text"),
    };
    let mut body = format!("<p role=\"status\">{}</p>", t(locale, text));
    body.push_str(&dues_table(locale, dues));
    if ending == Ending::Verifying {
        let _ =
            write!(body, "<p><a class=\"button\" href=\"{}\">{}</a></p>", escape(check_url), t(locale, "check_now"));
    }
    if let (Some(url), Ending::Cancelled | Ending::Failed) = (retry_url, ending) {
        let _ = write!(body, "<p><a class=\"button\" href=\"{}\">{}</a></p>", escape(url), t(locale, "retry"));
    }
    let refresh = (ending == Ending::Verifying).then_some(10);
    layout(locale, t(locale, title), lang_links, refresh, &body)
}

/// A page that says what went wrong, in the citizen's words.
pub fn error_page(locale: Locale, message: &str, back: Option<&str>) -> String {
    let mut body = format!("<p role=\"alert\">{}</p>", escape(message));
    if let Some(url) = back {
        let _ = write!(body, "<p><a href=\"{}\">{}</a></p>", escape(url), t(locale, "back"));
    }
    layout(locale, t(locale, "error"), &[], None, &body)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn due(token: Option<&str>) -> Due {
        Due {
            reason: "Diritti <di> segreteria".into(),
            amount: Some(Amount(123_456)),
            expire_at: Some(Timestamp::parse("2026-12-31T23:30:00Z").unwrap()),
            notice_code: Some("301000000000123468".into()),
            creditor: "Comune di Bugliano".into(),
            creditor_code: "80001234568".into(),
            status: PaymentStatus::PaymentPending,
            notice_url: Some("/notice/x".into()),
            receipt_url: None,
            token: token.map(str::to_owned),
        }
    }

    #[test]
    fn every_word_has_both_languages_once() {
        // A key twice is a TOML error: the file must parse.
        let parsed: std::collections::BTreeMap<String, Word> = toml::from_str(include_str!("words.toml")).unwrap();
        assert!(parsed.len() > 40, "{} words", parsed.len());
        for (key, word) in words() {
            assert!(!word.it.is_empty() && !word.en.is_empty(), "{key}");
        }
        for key in ["skip", "pay", "language", "result_failed_text"] {
            assert!(!t(Locale::En, key).is_empty(), "{key}");
        }
    }

    #[test]
    fn every_status_has_words_in_both_languages() {
        use PaymentStatus::*;
        let all = [CreationPending, CreationFailed, PaymentPending, PaymentStarted, PaymentConfirmed];
        let rest = [PaymentFailed, NotificationPending, Complete, Expired, Canceled];
        for status in all.into_iter().chain(rest) {
            for locale in [Locale::It, Locale::En] {
                assert!(!status_text(locale, status).is_empty(), "{status} in {locale:?}");
            }
        }
        assert_eq!(status_text(Locale::It, Complete), "Pagato");
    }

    #[test]
    fn amounts_and_dates_read_as_each_language_writes_them() {
        assert_eq!(money(Locale::It, 123_456), "1.234,56\u{a0}€");
        assert_eq!(money(Locale::En, 123_456), "€1,234.56");
        assert_eq!(money(Locale::It, 5), "0,05\u{a0}€");
        // 23:30 UTC on 31 December is already 1 January in Rome.
        let at = Timestamp::parse("2026-12-31T23:30:00Z").unwrap();
        assert_eq!(date(Locale::It, at), "01/01/2027");
        assert_eq!(date(Locale::En, at), "1 Jan 2027");
        assert_eq!(grouped_code("301000000000123468"), "3010 0000 0000 1234 68");
    }

    #[test]
    fn the_payment_page_escapes_values_labels_its_field_and_posts_only_payable_dues() {
        let mut paid = due(None);
        paid.status = PaymentStatus::Complete;
        let html =
            payment_page(Locale::It, &[due(Some("tok-1")), paid], &[(Locale::En, "/pay/x?lang=en".into())], None, true);
        assert!(html.starts_with("<!doctype html><html lang=\"it\">"));
        assert!(html.contains("Diritti &lt;di&gt; segreteria") && !html.contains("<di>"));
        assert!(html.contains("<label for=\"email_notice\">") && html.contains("id=\"email_notice\""));
        assert_eq!(html.matches("name=\"payment\"").count(), 1);
        assert!(html.contains("value=\"tok-1\""));
        assert!(html.contains("Totale: 1.234,56"));
        assert!(html.contains("<caption>Dovuti</caption>") && html.contains("scope=\"col\""));
        assert!(html.contains("hreflang=\"en\""));
    }

    #[test]
    fn without_payable_dues_there_is_no_pay_button() {
        let html = payment_page(Locale::En, &[due(None)], &[], None, true);
        assert!(!html.contains("<form"));
        assert!(html.contains("None of the dues on this page can be paid now."));
    }

    #[test]
    fn only_the_waiting_result_refreshes_itself_and_offers_a_check() {
        let waiting = result_page(Locale::En, Ending::Verifying, &[due(None)], &[], None, "/checkout/c");
        assert!(waiting.contains("http-equiv=\"refresh\" content=\"10\"") && waiting.contains("Check now"));
        let paid = result_page(Locale::It, Ending::Paid, &[due(None)], &[], Some("/pay/x"), "/checkout/c");
        assert!(!paid.contains("refresh") && paid.contains("Pagamento eseguito") && !paid.contains("/pay/x"));
        let cancelled = result_page(Locale::It, Ending::Cancelled, &[due(None)], &[], Some("/pay/x"), "/checkout/c");
        assert!(cancelled.contains("href=\"/pay/x\""));
    }
}
