//! The pages' languages, and every word they show in one table per language.
//!
//! A page's language is `?lang=fr|en` when given (kept in the links and form posts the page
//! makes), else the first of `fr` and `en` that the request's `Accept-Language` prefers, else
//! English. Text that comes from a task is never translated.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::header::ACCEPT_LANGUAGE;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Uri};

use crate::model::State as TaskState;

/// A language the pages speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English, the default.
    #[default]
    En,
    /// French.
    Fr,
}

impl Lang {
    /// The language's tag, as in `<html lang>` and `?lang=`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// The language of a tag such as `fr`, `fr-CA` or `EN`.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("fr") {
            Some(Lang::Fr)
        } else if primary.eq_ignore_ascii_case("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The first of the pages' languages that an `Accept-Language` value prefers.
    pub fn preferred(accept: &str) -> Option<Lang> {
        let mut best: Option<(Lang, f32)> = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let quality = parts
                .find_map(|param| {
                    let (key, value) = param.split_once('=')?;
                    (key.trim() == "q").then(|| value.trim().parse::<f32>().ok())?
                })
                .unwrap_or(1.0);
            if quality > 0.0 && best.is_none_or(|(_, q)| quality > q) {
                best = Some((lang, quality));
            }
        }
        best.map(|(lang, _)| lang)
    }

    /// The words of this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::Fr => &FR,
        }
    }
}

/// The language of a request, and whether `?lang=` chose it (then the page's links keep it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Locale {
    /// The page's language.
    pub lang: Lang,
    /// Whether the URL asked for it, as `?lang=`.
    pub pinned: bool,
}

impl Locale {
    /// The language of a request with this URL and these headers.
    pub fn of(uri: &Uri, headers: &HeaderMap) -> Locale {
        let asked = uri.query().unwrap_or("").split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == "lang").then(|| Lang::parse(value))?
        });
        if let Some(lang) = asked {
            return Locale { lang, pinned: true };
        }
        let lang = headers
            .get_all(ACCEPT_LANGUAGE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .find_map(Lang::preferred)
            .unwrap_or_default();
        Locale {
            lang,
            pinned: false,
        }
    }

    /// The words of the page.
    pub fn text(self) -> &'static Text {
        self.lang.text()
    }

    /// `path` (without a query) with `?lang=` when the language was asked for in the URL.
    pub fn link(self, path: &str) -> String {
        if self.pinned {
            format!("{path}?lang={}", self.lang.code())
        } else {
            path.to_owned()
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Locale {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Locale::of(&parts.uri, &parts.headers))
    }
}

/// Every word the pages show, in one language.
#[derive(Debug)]
pub struct Text {
    // The list.
    pub your_tasks: &'static str,
    pub running: &'static str,
    pub waiting_for_you: &'static str,
    pub queued: &'static str,
    pub failed: &'static str,
    pub recently_finished: &'static str,
    pub no_tasks: &'static str,
    pub col_task: &'static str,
    pub col_state: &'static str,
    pub col_progress: &'static str,
    pub col_started: &'static str,
    // One task.
    pub back_to_tasks: &'static str,
    pub state: &'static str,
    pub dismissed: &'static str,
    pub kind: &'static str,
    pub queue: &'static str,
    pub attempts: &'static str,
    pub of: &'static str,
    pub created: &'static str,
    pub started: &'static str,
    pub finished: &'static str,
    pub progress: &'static str,
    pub what_went_wrong: &'static str,
    pub error_detail: &'static str,
    pub result: &'static str,
    pub view_result: &'static str,
    pub give_input: &'static str,
    pub back_to_app: &'static str,
    pub cancel: &'static str,
    pub retry: &'static str,
    pub dismiss: &'static str,
    // State names.
    pub state_scheduled: &'static str,
    pub state_queued: &'static str,
    pub state_running: &'static str,
    pub state_waiting: &'static str,
    pub state_succeeded: &'static str,
    pub state_failed: &'static str,
    pub state_cancelled: &'static str,
    pub state_expired: &'static str,
    // The wait page, and its script.
    pub wait_turn: &'static str,
    pub wait_working: &'static str,
    pub wait_needs_input: &'static str,
    pub wait_done: &'static str,
    pub wait_failed: &'static str,
    pub wait_cancelled: &'static str,
    pub wait_expired: &'static str,
    pub wait_lost: &'static str,
    pub wait_details: &'static str,
    pub wait_noscript: &'static str,
    pub wait_noscript_link: &'static str,
    // Error pages.
    pub not_found_title: &'static str,
    pub not_found: &'static str,
    pub failure_title: &'static str,
    pub failure: &'static str,
    pub not_possible_title: &'static str,
    pub not_possible: &'static str,
    pub sign_in_title: &'static str,
    pub sign_in: &'static str,
    pub sign_in_expired: &'static str,
    pub sign_in_invalid: &'static str,
    pub refused_title: &'static str,
    pub refused: &'static str,
    pub bad_link_title: &'static str,
    pub bad_link: &'static str,
}

impl Text {
    /// A task state's name.
    pub fn state_name(&self, state: TaskState) -> &'static str {
        match state {
            TaskState::Scheduled => self.state_scheduled,
            TaskState::Queued => self.state_queued,
            TaskState::Running => self.state_running,
            TaskState::Waiting => self.state_waiting,
            TaskState::Succeeded => self.state_succeeded,
            TaskState::Failed => self.state_failed,
            TaskState::Cancelled => self.state_cancelled,
            TaskState::Expired => self.state_expired,
        }
    }

    /// A task state in a sentence, as the wait page says it.
    pub fn describe(&self, state: TaskState) -> &'static str {
        match state {
            TaskState::Scheduled | TaskState::Queued => self.wait_turn,
            TaskState::Running => self.wait_working,
            TaskState::Waiting => self.wait_needs_input,
            TaskState::Succeeded => self.wait_done,
            TaskState::Failed => self.wait_failed,
            TaskState::Cancelled => self.wait_cancelled,
            TaskState::Expired => self.wait_expired,
        }
    }
}

static EN: Text = Text {
    your_tasks: "Your tasks",
    running: "Running",
    waiting_for_you: "Waiting for you",
    queued: "Queued",
    failed: "Failed",
    recently_finished: "Recently finished",
    no_tasks: "You have no tasks.",
    col_task: "Task",
    col_state: "State",
    col_progress: "Progress",
    col_started: "Started",
    back_to_tasks: "← Your tasks",
    state: "State",
    dismissed: "dismissed",
    kind: "Kind",
    queue: "queue",
    attempts: "Attempts",
    of: "of",
    created: "Created",
    started: "Started",
    finished: "Finished",
    progress: "Progress",
    what_went_wrong: "What went wrong",
    error_detail: "Error detail",
    result: "Result",
    view_result: "View the result",
    give_input: "Give your input",
    back_to_app: "Back to the application",
    cancel: "Cancel",
    retry: "Retry",
    dismiss: "Dismiss",
    state_scheduled: "scheduled",
    state_queued: "queued",
    state_running: "running",
    state_waiting: "waiting",
    state_succeeded: "succeeded",
    state_failed: "failed",
    state_cancelled: "cancelled",
    state_expired: "expired",
    wait_turn: "Waiting for its turn…",
    wait_working: "Working…",
    wait_needs_input: "This task needs your input.",
    wait_done: "Done.",
    wait_failed: "This task failed.",
    wait_cancelled: "This task was cancelled.",
    wait_expired: "This task expired before it could run.",
    wait_lost: "errand does not answer: checking again in a moment. \
                Your task goes on without this page.",
    wait_details: "Details of this task",
    wait_noscript: "This page follows the task with JavaScript;",
    wait_noscript_link: "open the task's page",
    not_found_title: "Task not found",
    not_found: "There is no such task among yours.",
    failure_title: "Something went wrong",
    failure: "errand could not answer; try again in a moment.",
    not_possible_title: "Not possible",
    not_possible: "errand could not do this:",
    sign_in_title: "Sign-in needed",
    sign_in: "Open this page from the application: it lets errand know who you are.",
    sign_in_expired: "Your session has expired: go back to the application and open this page again.",
    sign_in_invalid: "This link is not valid: open the page from the application again.",
    refused_title: "Refused",
    refused: "This action must come from errand's own pages.",
    bad_link_title: "Bad link",
    bad_link: "The link carries characters that cannot be kept.",
};

static FR: Text = Text {
    your_tasks: "Vos tâches",
    running: "En cours",
    waiting_for_you: "En attente de vous",
    queued: "En file",
    failed: "En échec",
    recently_finished: "Terminées récemment",
    no_tasks: "Vous n’avez aucune tâche.",
    col_task: "Tâche",
    col_state: "État",
    col_progress: "Avancement",
    col_started: "Démarrée",
    back_to_tasks: "← Vos tâches",
    state: "État",
    dismissed: "écartée",
    kind: "Type",
    queue: "file",
    attempts: "Essais",
    of: "sur",
    created: "Créée",
    started: "Démarrée",
    finished: "Terminée",
    progress: "Avancement",
    what_went_wrong: "Ce qui n’a pas marché",
    error_detail: "Détail de l’erreur",
    result: "Résultat",
    view_result: "Voir le résultat",
    give_input: "Donner votre réponse",
    back_to_app: "Retour à l’application",
    cancel: "Annuler",
    retry: "Réessayer",
    dismiss: "Écarter",
    state_scheduled: "planifiée",
    state_queued: "en file",
    state_running: "en cours",
    state_waiting: "en attente",
    state_succeeded: "réussie",
    state_failed: "en échec",
    state_cancelled: "annulée",
    state_expired: "expirée",
    wait_turn: "En attente de son tour…",
    wait_working: "En cours…",
    wait_needs_input: "Cette tâche attend votre réponse.",
    wait_done: "Terminé.",
    wait_failed: "Cette tâche a échoué.",
    wait_cancelled: "Cette tâche a été annulée.",
    wait_expired: "Cette tâche a expiré avant de pouvoir démarrer.",
    wait_lost: "errand ne répond pas : nouvel essai dans un instant. \
                Votre tâche continue sans cette page.",
    wait_details: "Détails de cette tâche",
    wait_noscript: "Cette page suit la tâche avec JavaScript ;",
    wait_noscript_link: "ouvrez plutôt la page de la tâche",
    not_found_title: "Tâche introuvable",
    not_found: "Aucune de vos tâches ne porte ce nom.",
    failure_title: "Une erreur est survenue",
    failure: "errand n’a pas pu répondre ; réessayez dans un instant.",
    not_possible_title: "Impossible",
    not_possible: "errand n’a pas pu le faire :",
    sign_in_title: "Connexion nécessaire",
    sign_in: "Ouvrez cette page depuis l’application : elle indique à errand qui vous êtes.",
    sign_in_expired: "Votre session a expiré : revenez à l’application et rouvrez cette page.",
    sign_in_invalid: "Ce lien n’est pas valide : rouvrez la page depuis l’application.",
    refused_title: "Refusé",
    refused: "Cette action doit venir des pages d’errand.",
    bad_link_title: "Lien incorrect",
    bad_link: "Le lien contient des caractères qui ne peuvent pas être conservés.",
};

#[cfg(test)]
mod tests {
    use super::Lang;

    #[test]
    fn accept_language_picks_the_preferred_of_french_and_english() {
        assert_eq!(Lang::preferred("fr-FR,fr;q=0.9"), Some(Lang::Fr));
        assert_eq!(Lang::preferred("de, en;q=0.5, fr;q=0.8"), Some(Lang::Fr));
        assert_eq!(Lang::preferred("en-GB, fr"), Some(Lang::En));
        assert_eq!(Lang::preferred("fr;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(Lang::preferred("de, *"), None);
    }
}
