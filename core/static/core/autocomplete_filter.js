'use strict';
// A changelist filter chosen with the admin's autocomplete: picking a value reloads the list with it.
{
    const $ = django.jQuery;
    $(function() {
        $('.console-autocomplete-filter').on('change', function() {
            const params = new URLSearchParams(window.location.search);
            if (this.value) {
                params.set(this.dataset.parameter, this.value);
            } else {
                params.delete(this.dataset.parameter);
            }
            params.delete('p');
            window.location.search = params.toString();
        });
    });
}
